/**
 * Just enough of strongSwan's vici protocol (src/libcharon/plugins/vici/README.md) for the bench
 * to pace charon's initiations: commands with flat key/value messages, and events. Packets are a
 * 32-bit length, a type, a name for named types, then a message of elements:
 *
 *   1 SECTION_START name | 2 SECTION_END | 3 KEY_VALUE name, 16-bit length, value
 *   4 LIST_START name | 5 LIST_ITEM 16-bit length, value | 6 LIST_END
 *
 * Decoded messages keep the top level only: its key/values and the names of its sections.
 */
import { connect, type Socket } from 'node:net';

const CMD_REQUEST = 0;
const CMD_RESPONSE = 1;
const CMD_UNKNOWN = 2;
const EVENT_REGISTER = 3;
const EVENT_CONFIRM = 5;
const EVENT_UNKNOWN = 6;
const EVENT = 7;

export interface ViciMessage {
  readonly values: Record<string, string>;
  readonly sections: string[];
}

function encode(type: number, name: string, values: Record<string, string> = {}): Buffer {
  const parts: Buffer[] = [Buffer.from([type, name.length]), Buffer.from(name)];
  for (const [k, v] of Object.entries(values)) {
    const val = Buffer.from(v);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(val.length);
    parts.push(Buffer.from([3, k.length]), Buffer.from(k), len, val);
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

function decode(b: Buffer, at: number): ViciMessage {
  const values: Record<string, string> = {};
  const sections: string[] = [];
  let depth = 0;
  const name = () => {
    const n = b[at]!;
    const s = b.toString('utf8', at + 1, at + 1 + n);
    at += 1 + n;
    return s;
  };
  const value = () => {
    const n = b.readUInt16BE(at);
    const s = b.toString('utf8', at + 2, at + 2 + n);
    at += 2 + n;
    return s;
  };
  while (at < b.length) {
    const t = b[at++]!;
    if (t === 1) {
      const s = name();
      if (depth++ === 0) sections.push(s);
    } else if (t === 2) depth--;
    else if (t === 3) {
      const k = name();
      const v = value();
      if (depth === 0) values[k] = v;
    } else if (t === 4) name();
    else if (t === 5) value();
    else if (t !== 6) throw new Error(`vici: element type ${t}`);
  }
  return { values, sections };
}

export class Vici {
  private buf = Buffer.alloc(0);
  private readonly waiting: ((m: ViciMessage | Error) => void)[] = [];
  private readonly handlers = new Map<string, (m: ViciMessage) => void>();

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d) => this.data(d));
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('vici: connection closed')));
  }

  static connect(path: string): Promise<Vici> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new Vici(s));
      });
    });
  }

  /** A command; resolves with the response's top level. */
  request(cmd: string, values: Record<string, string> = {}): Promise<ViciMessage> {
    return this.send(encode(CMD_REQUEST, cmd, values));
  }

  /** Register for an event; `cb` gets each one. */
  async listen(event: string, cb: (m: ViciMessage) => void): Promise<void> {
    this.handlers.set(event, cb);
    await this.send(encode(EVENT_REGISTER, event));
  }

  close(): void {
    this.sock.destroy();
  }

  private send(packet: Buffer): Promise<ViciMessage> {
    return new Promise((resolve, reject) => {
      this.waiting.push((m) => (m instanceof Error ? reject(m) : resolve(m)));
      this.sock.write(packet);
    });
  }

  private fail(e: Error): void {
    for (const w of this.waiting.splice(0)) w(e);
  }

  private data(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
      const p = this.buf.subarray(4, 4 + this.buf.readUInt32BE(0));
      this.buf = this.buf.subarray(4 + p.length);
      const type = p[0]!;
      if (type === EVENT) {
        const n = p[1]!;
        this.handlers.get(p.toString('utf8', 2, 2 + n))?.(decode(p, 2 + n));
      } else if (type === CMD_RESPONSE || type === EVENT_CONFIRM) this.waiting.shift()?.(decode(p, 1));
      else if (type === CMD_UNKNOWN || type === EVENT_UNKNOWN) this.waiting.shift()?.(new Error(`vici: unknown command or event (type ${type})`));
    }
  }
}
