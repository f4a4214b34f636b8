/**
 * `ip xfrm` command lines (iproute2, OpenWrt's ip-full) for the kernel driver, built as token
 * lists: pure functions, no I/O, so the unit tests check every command exactly. The driver runs
 * them through an injectable runner; tokens are never passed through a shell.
 *
 * Names the kernel's crypto API knows the ESP transforms by:
 *   aes*gcm16         aead rfc4106(gcm(aes))            key+salt, 128-bit ICV (RFC 4106)
 *   chacha20poly1305  aead rfc7539esp(chacha20,poly1305) key+salt, 128-bit ICV (RFC 7634)
 *   aes*-sha256       enc cbc(aes) + auth-trunc hmac(sha256), 128-bit truncation (RFC 4868)
 */
import type { CipherSuite } from '../../crypto/types.js';
import type { Direction, Limits, Mode, Policy, SaSpec, Selector } from '../../sa/types.js';
import { ANY_PORTS, prefixText } from '../../sa/selector.js';
import { spiText } from '../../sa/sad.js';
import { KeylineError } from '../../wire/errors.js';

/** One `ip` invocation: its arguments (without `ip`); `secret` ones carry key material. */
export interface IpCommand {
  readonly args: readonly string[];
  /** Key material inside: the runner must keep it off the command line (`ip -batch -`). */
  readonly secret?: boolean;
}

/**
 * keyline's reqids (1, 2, … by position in the key file) are moved into a range of their own in
 * the kernel ('kl' << 16), so that cleaning up after a crash never touches the SAs and policies
 * of another IKE daemon on the box (strongSwan counts reqids from 1 too).
 */
export const REQID_BASE = 0x6b6c_0000;
export const REQID_SPAN = 0x1_0000;
export const kernelReqid = (reqid: number): number => REQID_BASE + reqid;
export const ourReqid = (kreqid: number): number | undefined =>
  kreqid > REQID_BASE && kreqid < REQID_BASE + REQID_SPAN ? kreqid - REQID_BASE : undefined;

/** Priority of the IKE bypass policies: above every keyline policy (lower wins, as in XFRM). */
export const BYPASS_PRIORITY = 1;

/** ICV length in bits for every suite keyline has (16-byte tags, HMAC-SHA-256 truncated to 128). */
const ICV_BITS = 128;

const hex = (b: Uint8Array): string => '0x' + Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The ALGO-LIST of `ip xfrm state add` for a suite and its keys. */
export function algoTokens(suite: CipherSuite, encKey: Uint8Array, integKey: Uint8Array | undefined): string[] {
  switch (suite) {
    case 'aes128gcm16':
    case 'aes256gcm16':
      return ['aead', 'rfc4106(gcm(aes))', hex(encKey), String(ICV_BITS)];
    case 'chacha20poly1305':
      return ['aead', 'rfc7539esp(chacha20,poly1305)', hex(encKey), String(ICV_BITS)];
    case 'aes128-sha256':
    case 'aes256-sha256':
      if (!integKey) throw new KeylineError('BAD_SA', `${suite} needs an integrity key`);
      return ['enc', 'cbc(aes)', hex(encKey), 'auth-trunc', 'hmac(sha256)', hex(integKey), String(ICV_BITS)];
  }
}

/** `limit time-soft 30 limit time-hard 60 …`; soft limits go to the monitor as soft expires. */
export function limitTokens(soft: Limits, hard: Limits): string[] {
  const out: string[] = [];
  const put = (name: string, v: number | undefined) => v !== undefined && out.push('limit', name, String(Math.max(1, Math.floor(v))));
  put('time-soft', soft.seconds);
  put('time-hard', hard.seconds);
  put('byte-soft', soft.bytes);
  put('byte-hard', hard.bytes);
  put('packet-soft', soft.packets);
  put('packet-hard', hard.packets);
  return out;
}

/** Outer addresses and mode of one SA or one policy template. */
export interface Outer {
  readonly src: string;
  readonly dst: string;
}

/** What `ip xfrm state add/update` needs beyond the SaSpec: resolved outer addresses. */
export type StateArgs = Omit<SaSpec, 'local' | 'remote' | 'peer'> & { readonly outer: Outer };

/**
 * `xfrm state add|update src S dst D proto esp spi X reqid R mode M replay-window W [flag esn]
 * ALGO [sel …] [limit …]`. `update` turns the larval SA of an `allocspi` into the real one.
 * The replay window: see replayWindow(). With
 * exactly one selector it becomes the SA's own selector, which the kernel checks against every
 * decrypted packet (RFC 4301 §5.2); with several, the inbound policies do that check.
 * No `encap`: see driver.ts on NAT traversal.
 */
export function stateAdd(s: StateArgs, verb: 'add' | 'update' = 'add'): IpCommand {
  const args = [
    'xfrm', 'state', verb,
    'src', s.outer.src, 'dst', s.outer.dst,
    'proto', 'esp', 'spi', spiText(s.spi),
    'reqid', String(kernelReqid(s.reqid)),
    'mode', s.mode,
    'replay-window', String(replayWindow(s)),
    ...(s.esn ? ['flag', 'esn'] : []),
    ...algoTokens(s.suite, s.encKey, s.integKey),
    ...(s.selectors.length === 1 ? ['sel', ...selectorTokens(s.selectors[0]!, s.dir)] : []),
    ...limitTokens(s.soft, s.hard),
  ];
  return { args, secret: true };
}

/**
 * The kernel checks no sequence numbers on outbound SAs, so they get no window, except that
 * iproute2 refuses `flag esn` without one (6.1: "esn flag set without replay-window"): 1 there.
 * For the same reason an inbound ESN SA cannot have anti-replay off; that is refused here
 * rather than silently turned into a window of 1 (manual peers: esn=off, or a replay-window).
 */
export function replayWindow(s: Pick<StateArgs, 'dir' | 'esn' | 'replayWindow' | 'spi'>): number {
  if (s.dir === 'out') return s.esn ? 1 : 0;
  if (s.esn && s.replayWindow === 0) {
    throw new KeylineError('UNSUPPORTED', `SA ${spiText(s.spi)}: driver=xfrm cannot have ESN with anti-replay off (iproute2 refuses it): set esn=off or a replay-window`);
  }
  return s.replayWindow;
}

/** The SA's identity in the kernel: destination address, SPI, protocol. */
export function stateDelete(o: Outer, spi: number): IpCommand {
  return { args: ['xfrm', 'state', 'delete', 'src', o.src, 'dst', o.dst, 'proto', 'esp', 'spi', spiText(spi)] };
}

/** Reserve an inbound SPI in the kernel: a larval SA that `stateAdd(…, 'update')` completes. */
export function allocSpi(o: Outer, reqid: number, mode: Mode): IpCommand {
  return {
    args: ['xfrm', 'state', 'allocspi', 'src', o.src, 'dst', o.dst, 'proto', 'esp', 'mode', mode, 'reqid', String(kernelReqid(reqid)), 'min', '0x100', 'max', '0xffffffff'],
  };
}

/** Kernel SAs and their counters, without key material (for counters and clean-up). */
export const stateList: IpCommand = { args: ['-s', 'xfrm', 'state', 'list', 'nokeys'] };
export const policyList: IpCommand = { args: ['xfrm', 'policy', 'list'] };

/** The source address the kernel would use towards `remote` (for wildcard listen addresses). */
export const routeGet = (remote: string): IpCommand => ({ args: ['-o', 'route', 'get', remote] });

/**
 * `src L dst R [proto P [sport A] [dport B]]` seen from direction `dir`: the selector's local side
 * is the source of outbound traffic and the destination of inbound traffic. XFRM selectors take
 * one port or any; a range is refused, not widened.
 */
export function selectorTokens(s: Selector, dir: Direction | 'fwd'): string[] {
  const out = dir === 'out';
  const [src, dst] = out ? [s.local, s.remote] : [s.remote, s.local];
  const [sp, dp] = out ? [s.localPorts, s.remotePorts] : [s.remotePorts, s.localPorts];
  const t = ['src', prefixText(src), 'dst', prefixText(dst)];
  if (s.proto !== 0) t.push('proto', String(s.proto));
  const port = (name: string, r: readonly [number, number]) => {
    if (r[0] === ANY_PORTS[0] && r[1] === ANY_PORTS[1]) return;
    if (r[0] !== r[1]) throw new KeylineError('UNSUPPORTED', `xfrm selectors take one port or any, not the range ${r[0]}-${r[1]}`);
    if (s.proto !== 6 && s.proto !== 17 && s.proto !== 132 && s.proto !== 33) throw new KeylineError('UNSUPPORTED', `ports need TCP, UDP, SCTP or DCCP, not protocol ${s.proto}`);
    t.push(name, String(r[0]));
  };
  port('sport', sp);
  port('dport', dp);
  return t;
}

export type PolicyDir = 'out' | 'in' | 'fwd';

/**
 * The kernel policies for one keyline policy. 'protect': out (level required: no SA means the
 * packet is dropped and an ACQUIRE raised, never sent in the clear), in, and in tunnel mode fwd
 * for traffic routed on to hosts behind us; each with a template naming the outer addresses,
 * the reqid that ties it to its SAs, and the mode. 'bypass' and 'discard' are allow and block
 * in all three directions. `update` adds or replaces, so a restart after a crash needs no flush.
 */
export function policyAdd(p: Policy, tmpl: { outer: Outer; mode: Mode } | undefined): IpCommand[] {
  const dirs: PolicyDir[] = p.action === 'protect' && tmpl?.mode === 'transport' ? ['out', 'in'] : ['out', 'in', 'fwd'];
  return dirs.map((dir) => {
    const head = ['xfrm', 'policy', 'update', ...selectorTokens(p.selector, dir), 'dir', dir, 'priority', String(p.priority)];
    if (p.action === 'bypass') return { args: [...head, 'action', 'allow'] };
    if (p.action === 'discard') return { args: [...head, 'action', 'block'] };
    if (!tmpl) throw new KeylineError('BAD_POLICY', `policy ${p.id}: a protect policy needs its tunnel endpoints`);
    const [src, dst] = dir === 'out' ? [tmpl.outer.src, tmpl.outer.dst] : [tmpl.outer.dst, tmpl.outer.src];
    const level = dir === 'out' ? ['level', 'required'] : [];
    return { args: [...head, 'tmpl', 'src', src, 'dst', dst, 'proto', 'esp', 'reqid', String(kernelReqid(p.reqid)), 'mode', tmpl.mode, ...level] };
  });
}

/** Delete the kernel policies policyAdd made (same selector and direction). */
export function policyDelete(p: Policy, dirs: readonly PolicyDir[]): IpCommand[] {
  return dirs.map((dir) => ({ args: ['xfrm', 'policy', 'delete', ...selectorTokens(p.selector, dir), 'dir', dir] }));
}

/**
 * Let IKE itself through whatever the protect policies cover (transport mode between the two
 * gateways covers their own UDP 500/4500): strongSwan sets per-socket bypass policies, which
 * node:dgram cannot, so these are global for our ports, above every keyline policy.
 */
export function bypassIke(family: 4 | 6, port: number, verb: 'update' | 'delete'): IpCommand[] {
  const any = family === 4 ? '0.0.0.0/0' : '::/0';
  const sel = (dir: 'out' | 'in') => ['src', any, 'dst', any, 'proto', '17', dir === 'out' ? 'sport' : 'dport', String(port), 'dir', dir];
  return (['out', 'in'] as const).map((dir) => ({
    args: ['xfrm', 'policy', verb, ...sel(dir), ...(verb === 'update' ? ['priority', String(BYPASS_PRIORITY), 'action', 'allow'] : [])],
  }));
}

/** `ip xfrm monitor` arguments: only the two events the driver acts on, never key material. */
export const MONITOR_ARGS: readonly string[] = ['xfrm', 'monitor', 'nokeys', 'acquire', 'expire'];
