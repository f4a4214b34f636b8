/**
 * The attacker's side of the attack tests, run as its own process inside a network namespace
 * (bundled by test/netns/ns.ts bundleMain for the tests, or the bench bundle's `attack-child`):
 *
 *   ike-flood CONFIG   IKE_SA_INIT requests at a fixed offered rate from many address/port
 *                      pairs (one socket each, 127.x.y.z on loopback: every 127/8 address is
 *                      local), each with a fresh SPI and nonce and a key share from a pool, made
 *                      with keyline's own encoders so they parse. `echoCookies` makes it an
 *                      attacker that can receive at its addresses: COOKIE answers are returned.
 *   esp-flood CONFIG   ESP-in-UDP datagrams: random SPIs, or one SPI with garbage where the ICV
 *                      must verify, at a fixed rate (0: as fast as it can) for a bounded time.
 *   relay CONFIG       a UDP relay between two agents on ports 500 and 4500 that reports every
 *                      datagram it carries on stdout (the capture) and sends what stdin tells it
 *                      to (the replay and the forgeries), from the address the receiver expects.
 *
 * Every mode prints one JSON object per line on stdout; the floods end with {"done": …} and exit
 * (at their time, or earlier on a line `stop` on stdin).
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { newKeyExchange } from '../../src/crypto/dh/index.js';
import { EXCHANGE, FLAG, NOTIFY } from '../../src/ike/constants.js';
import { decodeMessage, decodePayload, encodeMessage, encodePayload, type Payload } from '../../src/ike/message.js';
import { natHash } from '../../src/ike/natd.js';
import { parseIkeProposals, toSaPayload } from '../../src/ike/proposals.js';
import { KE } from '../../src/wire/iana.js';

export interface IkeFloodConfig {
  target: { addr: string; port: number };
  /** Requests per second offered. */
  rate: number;
  durationMs: number;
  /** Source address/port pairs (sockets); addresses 127.<base>.x.y upwards. */
  sources: number;
  base?: number;
  echoCookies?: boolean;
  /** Proposal in key-file notation (default keyline's first). */
  proposal?: string;
}

export interface IkeFloodResult {
  sent: number;
  echoed: number;
  /** Answers received by kind: cookie, init (a real IKE_SA_INIT response), other. */
  answers: Record<string, number>;
  elapsedMs: number;
  sources: number;
}

export interface EspFloodConfig {
  target: { addr: string; port: number };
  kind: 'random-spi' | 'bad-icv';
  /** bad-icv: the live SPI; random-spi: SPIs never to use. */
  spi?: number;
  avoid?: number[];
  /** Packets per second; 0 = as fast as the process can send. */
  rate: number;
  durationMs: number;
  /** Bytes per ESP packet (SPI, sequence number, IV, body, ICV). */
  len?: number;
  sources?: number;
  base?: number;
}

export interface EspFloodResult {
  sent: number;
  elapsedMs: number;
  sendErrors: number;
}

export interface RelayConfig {
  /** Faces agent A: A sends to these (its peer address). */
  facingA: string;
  /** Faces agent B: B sees the peer at this address. */
  facingB: string;
  /** Agent B's address. */
  agentB: string;
  ports: number[];
}

/** A datagram the relay carried: towards 'a' or 'b', on port 500 or 4500. */
export interface Carried {
  to: 'a' | 'b';
  port: number;
  hex: string;
}

const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bind `n` UDP sockets on 127.<base>.x.y, ephemeral ports. */
async function sockets(n: number, base: number): Promise<dgram.Socket[]> {
  const socks: dgram.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = dgram.createSocket('udp4');
    s.on('error', () => {});
    await new Promise<void>((res, rej) => {
      s.once('error', rej);
      s.bind(0, `127.${base + (i >> 16)}.${(i >> 8) & 0xff}.${(i & 0xff) || 1}`, () => res());
    });
    socks.push(s);
    if ((i + 1) % 512 === 0) out({ bound: i + 1 }); // progress: where a stalled start stalled
  }
  return socks;
}

/** A line `stop` on stdin ends a flood early (the test saw what it waited for). */
let stopped = false;
function listenForStop(): void {
  process.stdin.setEncoding('utf8').on('data', (d: string) => void (d.includes('stop') && (stopped = true)));
}

/** Send `total(elapsed)` packets as time goes by, in 5 ms ticks, until `durationMs` or `stop`. */
async function paced(rate: number, durationMs: number, send: (i: number) => void): Promise<{ sent: number; elapsedMs: number }> {
  const start = performance.now();
  let sent = 0;
  for (;;) {
    const elapsed = performance.now() - start;
    if (elapsed >= durationMs || stopped) break;
    const due = rate > 0 ? Math.min(Math.floor((rate * elapsed) / 1000), Math.floor((rate * durationMs) / 1000)) : sent + 256;
    for (; sent < due; sent++) send(sent);
    await (rate > 0 ? sleep(5) : new Promise((r) => setImmediate(r)));
  }
  return { sent, elapsedMs: performance.now() - start };
}

/** HDR, [N(COOKIE),] SAi1, KEi, Ni, N(NAT_D src), N(NAT_D dst): what an initiator sends. */
function initRequest(spiI: bigint, body: readonly Payload[], cookie?: Uint8Array): Uint8Array {
  const payloads = cookie ? [{ type: 'N', protocol: 0, notify: NOTIFY.COOKIE, spi: new Uint8Array(0), data: cookie } as Payload, ...body] : body;
  return encodeMessage({ spiI, spiR: 0n, major: 2, minor: 0, exchange: EXCHANGE.IKE_SA_INIT, flags: FLAG.I, messageId: 0 }, payloads.map(encodePayload));
}

export async function ikeFlood(c: IkeFloodConfig): Promise<IkeFloodResult> {
  const socks = await sockets(c.sources, c.base ?? 64);
  const sa = toSaPayload(parseIkeProposals(c.proposal ?? 'aes256gcm16-prfsha256-x25519'), 'ike');
  // Real key shares, a pool of them: generating one per request would make the flooder the bottleneck.
  const keys = Array.from({ length: 64 }, () => newKeyExchange(KE.CURVE25519, 'node').publicKey);
  const waiting = new Map<bigint, readonly Payload[]>();
  const answers: Record<string, number> = { cookie: 0, init: 0, other: 0 };
  let echoed = 0;
  const notify = (type: number, data: Uint8Array): Payload => ({ type: 'N', protocol: 0, notify: type, spi: new Uint8Array(0), data });
  for (const s of socks) {
    s.on('message', (msg) => {
      const d = decodeMessage(new Uint8Array(msg.buffer, msg.byteOffset, msg.length));
      if (!d.ok) return void answers.other!++;
      const first = d.payloads[0] && decodePayload(d.payloads[0]);
      if (first?.type === 'N' && first.notify === NOTIFY.COOKIE) {
        answers.cookie!++;
        const body = waiting.get(d.header.spiI);
        if (c.echoCookies && body) {
          waiting.delete(d.header.spiI);
          echoed++;
          s.send(initRequest(d.header.spiI, body, first.data), c.target.port, c.target.addr);
        }
      } else if (d.header.spiR !== 0n) answers.init!++;
      else answers.other!++;
    });
  }
  out({ ready: socks.length });
  const r = await paced(c.rate, c.durationMs, (i) => {
    const spiI = randomBytes(8).readBigUInt64BE();
    const sock = socks[i % socks.length]!;
    const from = sock.address();
    const body: Payload[] = [
      { type: 'SA', ...sa },
      { type: 'KE', group: KE.CURVE25519, data: keys[i % keys.length]! },
      { type: 'NONCE', data: new Uint8Array(randomBytes(32)) },
      notify(NOTIFY.NAT_DETECTION_SOURCE_IP, natHash(spiI, 0n, { addr: from.address, port: from.port })),
      notify(NOTIFY.NAT_DETECTION_DESTINATION_IP, natHash(spiI, 0n, c.target)),
    ];
    if (c.echoCookies) {
      if (waiting.size >= 65_536) waiting.delete(waiting.keys().next().value!);
      waiting.set(spiI, body);
    }
    sock.send(initRequest(spiI, body), c.target.port, c.target.addr);
  });
  await sleep(500); // the last answers
  for (const s of socks) s.close();
  return { ...r, echoed, answers, sources: socks.length };
}

export async function espFlood(c: EspFloodConfig): Promise<EspFloodResult> {
  const socks = await sockets(c.sources ?? 64, c.base ?? 96);
  const len = c.len ?? 96;
  const avoid = new Set(c.avoid ?? []);
  // Pre-made bodies: the flood measures the agent, not randomBytes.
  const bodies = Array.from({ length: 256 }, () => {
    const b = new Uint8Array(randomBytes(len));
    return b;
  });
  let sendErrors = 0;
  const done = (e: Error | null) => void (e && sendErrors++);
  out({ ready: socks.length });
  const r = await paced(c.rate, c.durationMs, (i) => {
    const p = bodies[i & 0xff]!.slice();
    const v = new DataView(p.buffer);
    let spi = c.spi ?? 0;
    if (c.kind === 'random-spi') {
      do spi = randomBytes(4).readUInt32BE();
      while (spi < 256 || avoid.has(spi));
    }
    v.setUint32(0, spi);
    // Ahead of the replay window, so only the ICV check can refuse it.
    v.setUint32(4, 0x4000_0000 + i);
    socks[i % socks.length]!.send(p, c.target.port, c.target.addr, done);
  });
  await sleep(100);
  for (const s of socks) s.close();
  return { ...r, sendErrors };
}

/** The relay: carries and reports; `{"send": "a"|"b", "port": P, "hex": …}` on stdin sends one. */
async function relay(c: RelayConfig): Promise<void> {
  const bind = (addr: string, port: number) =>
    new Promise<dgram.Socket>((res, rej) => {
      const s = dgram.createSocket('udp4');
      s.once('error', rej);
      s.bind(port, addr, () => res(s));
    });
  const towardA = new Map<number, dgram.Socket>();
  const towardB = new Map<number, dgram.Socket>();
  const endpointA = new Map<number, { addr: string; port: number }>();
  const send = (to: 'a' | 'b', port: number, data: Uint8Array) => {
    if (to === 'b') return towardB.get(port)?.send(data, port, c.agentB);
    const at = endpointA.get(port);
    if (at) towardA.get(port)?.send(data, at.port, at.addr);
  };
  for (const port of c.ports) {
    const a = await bind(c.facingA, port);
    const b = await bind(c.facingB, port);
    towardA.set(port, a);
    towardB.set(port, b);
    a.on('message', (m, r) => {
      endpointA.set(port, { addr: r.address, port: r.port });
      out({ to: 'b', port, hex: m.toString('hex') } satisfies Carried);
      send('b', port, m);
    });
    b.on('message', (m) => {
      out({ to: 'a', port, hex: m.toString('hex') } satisfies Carried);
      send('a', port, m);
    });
  }
  let buf = '';
  process.stdin.setEncoding('utf8').on('data', (d: string) => {
    const lines = (buf + d).split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.trim()) continue;
      const cmd = JSON.parse(l) as { send: 'a' | 'b'; port: number; hex: string; id?: number };
      send(cmd.send, cmd.port, Buffer.from(cmd.hex, 'hex'));
      out({ sent: cmd.id ?? 0 });
    }
  });
  process.stdin.on('end', () => process.exit(0));
  out({ ready: c.ports.length * 2 });
}

export async function main(args: string[]): Promise<void> {
  const [mode, json] = args;
  const config: unknown = JSON.parse(json ?? '{}');
  out({ started: process.pid });
  try {
    if (mode !== 'relay') listenForStop();
    if (mode === 'ike-flood') out({ done: await ikeFlood(config as IkeFloodConfig) });
    else if (mode === 'esp-flood') out({ done: await espFlood(config as EspFloodConfig) });
    else if (mode === 'relay') return await relay(config as RelayConfig);
    else throw new Error(`unknown mode ${mode}`);
    process.exit(0);
  } catch (e) {
    process.stderr.write(`attack child: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  }
}
