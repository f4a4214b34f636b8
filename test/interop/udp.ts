/**
 * The test-process side of udp-child.ts: sockets on namespace A's address, driven from here.
 * `request` is a minimal IKE initiator transport: send, wait for the response that matches (same
 * SPIi and Message ID, R flag), retransmit a few times on silence. Port 4500 traffic carries the
 * 4-byte non-ESP marker (RFC 3948 §2.2 / RFC 7296 §2.23), added and stripped here.
 */
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { bundleMain, registerCleanup, spawnIn, type Proc } from '../netns/ns.js';
import type { ChildConfig } from './udp-child.js';
import { NON_ESP_MARKER } from '../../src/esp/udp.js';

export interface Datagram {
  /** Our local port it arrived on. */
  port: number;
  from: string;
  fromPort: number;
  /** For port 4500: without the non-ESP marker; ESP packets (no marker) are dropped. */
  data: Uint8Array;
}

export interface UdpRelay {
  readonly proc: Proc;
  send(port: number, to: string, toPort: number, data: Uint8Array): void;
  /** The next queued datagram that passes `match` (earlier non-matching ones stay queued). */
  next(match: (d: Datagram) => boolean, timeoutMs: number): Promise<Datagram | undefined>;
}

export const NAT_T_PORT = 4500;
const MARKER = NON_ESP_MARKER;

/** Bundle udp-child.ts and start it in `ns` with sockets on addr:ports; cleanup registered on t. */
export async function startUdpRelay(t: Test, ns: string, cfg: ChildConfig): Promise<UdpRelay> {
  const child = await bundleMain(fileURLToPath(new URL('./udp-child.ts', import.meta.url)));
  registerCleanup(t, child.remove);
  const proc = spawnIn(ns, [process.execPath, child.file, JSON.stringify(cfg)]);
  registerCleanup(t, () => proc.stop(), () => void (t.passing() || t.comment(`udp child stderr:\n${proc.stderr()}`)));

  const queue: Datagram[] = [];
  const wake = new Set<() => void>();
  proc.onLine((line) => {
    const m = JSON.parse(line) as { ev: string; port: number; from: string; fromPort: number; hex: string; message?: string };
    if (m.ev === 'error') return t.fail(`udp child: ${m.message}`);
    if (m.ev !== 'recv') return;
    let data = new Uint8Array(Buffer.from(m.hex, 'hex'));
    if (m.port === NAT_T_PORT) {
      if (data.length < 4 || data.subarray(0, 4).some((b) => b !== 0)) return; // ESP, not IKE
      data = data.subarray(4);
    }
    queue.push({ port: m.port, from: m.from, fromPort: m.fromPort, data });
    for (const w of wake) w();
  });
  const ready = JSON.parse(await proc.waitFor(/"ev":"(ready|error)"/, { timeoutMs: 10_000 })) as { ev: string; message?: string };
  if (ready.ev !== 'ready') throw new Error(`udp child in ${ns}: ${ready.message}`);

  return {
    proc,
    send(port, to, toPort, data) {
      const wire = port === NAT_T_PORT ? Buffer.concat([MARKER, data]) : Buffer.from(data);
      proc.write(JSON.stringify({ op: 'send', port, to, toPort, hex: wire.toString('hex') }) + '\n');
    },
    next(match, timeoutMs) {
      return new Promise((resolve) => {
        const check = () => {
          const i = queue.findIndex(match);
          if (i < 0) return false;
          finish(queue.splice(i, 1)[0]);
          return true;
        };
        const timer = setTimeout(() => finish(undefined), timeoutMs);
        const finish = (d: Datagram | undefined) => {
          clearTimeout(timer);
          wake.delete(waker);
          resolve(d);
        };
        const waker = () => void check();
        if (!check()) wake.add(waker);
      });
    },
  };
}

/**
 * Send an IKE request and return the matching response datagram. Retransmits the same bytes
 * (charon answers a retransmit from its response cache), `tries` times, `waitMs` apart.
 */
export async function request(
  relay: UdpRelay,
  o: { port: number; to: string; toPort: number; message: Uint8Array; isResponse: (d: Datagram) => boolean; tries?: number; waitMs?: number },
): Promise<Datagram> {
  const tries = o.tries ?? 3;
  for (let i = 0; i < tries; i++) {
    relay.send(o.port, o.to, o.toPort, o.message);
    const d = await relay.next((x) => x.port === o.port && o.isResponse(x), o.waitMs ?? 2000);
    if (d) return d;
  }
  throw new Error(`no IKE response from ${o.to}:${o.toPort} after ${tries} tries`);
}
