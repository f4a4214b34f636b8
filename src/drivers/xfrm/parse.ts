/**
 * Parsers for what iproute2 prints: `ip -s xfrm state list nokeys`, `ip xfrm policy list`,
 * `ip xfrm monitor nokeys acquire expire`, `/proc/net/xfrm_stat` and `ip -o route get`. Pure
 * functions over text; unknown lines are skipped, so a newer iproute2 that prints more still
 * parses. The formats are iproute2's (ip/ipxfrm.c, ip/xfrm_monitor.c), checked against 6.1.
 */
import { ourReqid } from './commands.js';

/** A block per object: a line at column 0 and the indented lines after it. */
export function blocks(text: string): string[][] {
  const out: string[][] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line) || out.length === 0) out.push([line]);
    else out[out.length - 1]!.push(line);
  }
  return out;
}

const num = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const v = /^0x/i.test(s) ? parseInt(s, 16) : Number(s);
  return Number.isFinite(v) ? v : undefined;
};

/** The value after `key` in a block, e.g. word(b, 'spi') → '0x00001000'; strips "(…)" tails. */
function word(lines: readonly string[], key: string): string | undefined {
  for (const l of lines) {
    const toks = l.trim().split(/\s+/);
    const i = toks.indexOf(key);
    if (i >= 0 && toks[i + 1] !== undefined) return toks[i + 1]!.replace(/\(.*$/, '');
  }
  return undefined;
}

export interface KernelSa {
  readonly src: string;
  readonly dst: string;
  readonly spi: number;
  /** The kernel's reqid, and keyline's when it lies in our range. */
  readonly kreqid: number;
  readonly reqid: number | undefined;
  readonly mode: string;
  readonly bytes: number;
  readonly packets: number;
  /** From the `stats:` line: replays, packets outside the window, failed integrity checks. */
  readonly replay: number;
  readonly replayWindow: number;
  readonly failed: number;
}

/** `ip [-s] xfrm state list`: one record per ESP SA (larval ones from allocspi included). */
export function parseStates(text: string): KernelSa[] {
  const out: KernelSa[] = [];
  for (const b of blocks(text)) {
    const head = /^src (\S+) dst (\S+)/.exec(b[0]!);
    if (!head || word(b, 'proto') !== 'esp') continue;
    const spi = num(word(b, 'spi'));
    if (spi === undefined) continue;
    const kreqid = num(word(b, 'reqid')) ?? 0;
    let bytes = 0;
    let packets = 0;
    const cur = b.findIndex((l) => l.trim() === 'lifetime current:');
    const m = cur >= 0 ? /(\d+)\(bytes\),\s*(\d+)\(packets\)/.exec(b[cur + 1] ?? '') : null;
    if (m) [bytes, packets] = [Number(m[1]), Number(m[2])];
    const stats = b.find((l) => /^\s*replay-window \d+ replay \d+ failed \d+/.test(l))?.trim().split(/\s+/) ?? [];
    out.push({
      src: head[1]!,
      dst: head[2]!,
      spi,
      kreqid,
      reqid: ourReqid(kreqid),
      mode: word(b, 'mode') ?? '',
      bytes,
      packets,
      replayWindow: num(stats[1]) ?? 0,
      replay: num(stats[3]) ?? 0,
      failed: num(stats[5]) ?? 0,
    });
  }
  return out;
}

export interface KernelPolicy {
  /** The selector as ip prints it, reusable as ip's SELECTOR arguments. */
  readonly selector: string[];
  readonly dir: string;
  readonly priority: number;
  /** Reqids of the templates (none for allow/block policies). */
  readonly kreqids: number[];
}

/** `ip xfrm policy list`. Socket policies ("dir out … ptype main" without a selector) are skipped. */
export function parsePolicies(text: string): KernelPolicy[] {
  const out: KernelPolicy[] = [];
  for (const b of blocks(text)) {
    if (!/^src \S+ dst \S+/.test(b[0]!)) continue;
    const dir = word(b, 'dir');
    if (!dir) continue;
    const kreqids: number[] = [];
    for (const l of b) {
      const m = /\breqid (\d+)/.exec(l);
      if (m) kreqids.push(Number(m[1]));
    }
    out.push({ selector: b[0]!.trim().split(/\s+/), dir, priority: num(word(b, 'priority')) ?? 0, kreqids });
  }
  return out;
}

export type MonitorEvent =
  | { readonly type: 'expire'; readonly src: string; readonly dst: string; readonly spi: number; readonly kreqid: number; readonly hard: boolean }
  | { readonly type: 'acquire'; readonly kreqid: number; readonly src: string; readonly dst: string; readonly dir: string };

/**
 * One message of `ip xfrm monitor acquire expire`:
 *
 *   Expired src 192.0.2.1 dst 192.0.2.2            acquire proto esp
 *       proto esp spi 0x… reqid … mode tunnel        sel src 198.51.100.1/32 dst 203.0.113.1/32 …
 *       …                                            policy src 198.51.100.0/24 dst 203.0.113.0/24
 *       hard 0                                           dir out priority 100 ptype main
 *                                                        tmpl src 192.0.2.1 dst 192.0.2.2
 *                                                            proto esp reqid … mode tunnel
 */
export function parseMonitorMessage(lines: readonly string[]): MonitorEvent | undefined {
  const first = lines[0] ?? '';
  if (first.startsWith('Expired ')) {
    const head = /^Expired src (\S+) dst (\S+)/.exec(first);
    const spi = num(word(lines, 'spi'));
    const hard = word(lines, 'hard');
    if (!head || spi === undefined || hard === undefined || word(lines, 'proto') !== 'esp') return undefined;
    return { type: 'expire', src: head[1]!, dst: head[2]!, spi, kreqid: num(word(lines, 'reqid')) ?? 0, hard: hard !== '0' };
  }
  if (first.startsWith('acquire ')) {
    const pol = lines.find((l) => /^\s*policy src /.test(l));
    const m = pol ? /policy src (\S+) dst (\S+)/.exec(pol) : null;
    const kreqid = num(word(lines, 'reqid'));
    if (!m || kreqid === undefined) return undefined;
    return { type: 'acquire', kreqid, src: m[1]!, dst: m[2]!, dir: word(lines, 'dir') ?? 'out' };
  }
  return undefined;
}

/**
 * Splits the monitor's output stream into messages: a message starts at a line in column 0 and
 * ends where the next one starts. The last message is held until the next one begins, or until
 * `flush` (a quiet moment), since the monitor prints nothing after it.
 */
export class MonitorSplitter {
  private current: string[] = [];
  private partial = '';
  constructor(private readonly onMessage: (lines: string[]) => void) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      if (line.trim() === '') continue;
      if (!/^\s/.test(line)) this.flush();
      this.current.push(line);
    }
  }

  flush(): void {
    if (this.current.length) this.onMessage(this.current);
    this.current = [];
  }
}

/**
 * Kernel XFRM MIB counters (/proc/net/xfrm_stat) under keyline's drop reasons where one fits,
 * under the kernel's own name otherwise. Zeros are left out.
 */
const STAT_REASON: Readonly<Record<string, string>> = {
  XfrmInNoStates: 'unknown-spi',
  XfrmInStateProtoError: 'auth',
  XfrmInStateSeqError: 'replay',
  XfrmInNoPols: 'no-policy',
  XfrmInPolBlock: 'discard-policy',
  XfrmInTmplMismatch: 'policy',
  XfrmInStateMismatch: 'policy',
  XfrmOutNoStates: 'no-sa',
  XfrmOutPolBlock: 'discard-policy',
  XfrmInStateExpired: 'expired',
  XfrmOutStateExpired: 'expired',
};

export function parseXfrmStat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(Xfrm\w+)\s+(\d+)/.exec(line.trim());
    if (!m || m[2] === '0') continue;
    const reason = STAT_REASON[m[1]!] ?? m[1]!;
    out[reason] = (out[reason] ?? 0) + Number(m[2]);
  }
  return out;
}

/** `ip -o route get ADDR` → the `src` the kernel would pick. */
export function parseRouteSrc(text: string): string | undefined {
  return /\bsrc (\S+)/.exec(text)?.[1];
}
