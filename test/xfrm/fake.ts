/**
 * A scripted `ip` for the xfrm driver's unit tests: every command is recorded as the line it
 * would be (`xfrm state add src …`), with a flag for the ones that go through `ip -batch -`;
 * answers come from handlers the test installs, or are empty. The monitor is a stream the test
 * writes into. No kernel, no process.
 */
import type { IpCommand } from '../../src/drivers/xfrm/commands.js';
import type { IpRunner, MonitorSpawner } from '../../src/drivers/xfrm/runner.js';
import { XfrmDriver, type XfrmOptions } from '../../src/drivers/xfrm/driver.js';
import { FakeClock } from '../../src/util/clock.js';

export interface Recorded {
  line: string;
  secret: boolean;
}

export class FakeIp {
  readonly log: Recorded[] = [];
  /** First handler whose pattern matches the line answers (text) or fails (Error). */
  readonly handlers: [RegExp, (line: string) => string | Error][] = [];
  monitorArgs: readonly string[] | undefined;
  private onData: ((chunk: string) => void) | undefined;
  private onExit: ((why: string) => void) | undefined;
  monitorsStarted = 0;
  monitorsStopped = 0;

  readonly run: IpRunner = async (cmd: IpCommand) => {
    const line = cmd.args.join(' ');
    this.log.push({ line, secret: !!cmd.secret });
    for (const [re, h] of this.handlers) {
      if (!re.test(line)) continue;
      const r = h(line);
      if (r instanceof Error) throw r;
      return r;
    }
    return '';
  };

  readonly monitor: MonitorSpawner = (args, onData, onExit) => {
    this.monitorArgs = args;
    this.onData = onData;
    this.onExit = onExit;
    this.monitorsStarted++;
    return { stop: () => void this.monitorsStopped++ };
  };

  on(re: RegExp, h: (line: string) => string | Error): this {
    this.handlers.push([re, h]);
    return this;
  }

  /** What the monitor prints (one or more messages). */
  print(text: string): void {
    this.onData?.(text);
  }

  monitorDies(why: string): void {
    this.onExit?.(why);
  }

  /** Recorded lines, optionally only those matching. */
  lines(re?: RegExp): string[] {
    return this.log.map((r) => r.line).filter((l) => !re || re.test(l));
  }

  clear(): void {
    this.log.length = 0;
  }
}

/** A driver on a FakeIp and a FakeClock; `stat` is what /proc/net/xfrm_stat says. */
export async function fakeDriver(o: Partial<XfrmOptions> & { stat?: string } = {}, setup?: (ip: FakeIp) => void) {
  const ip = new FakeIp();
  setup?.(ip);
  const clock = new FakeClock();
  let n = 0x1000;
  const d = await XfrmDriver.open({
    ip: ip.run,
    monitor: ip.monitor,
    clock,
    random32: () => n++,
    readStat: async () => o.stat ?? '',
    ...o,
  });
  return { d, ip, clock };
}
