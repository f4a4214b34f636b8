import t from 'tap';
import { conformance } from './conformance.js';
import { MemoryDriver } from '../../src/drivers/memory/driver.js';
import { FakeClock } from '../../src/util/clock.js';

conformance(t, 'memory', async () => {
  const clock = new FakeClock();
  const a = new MemoryDriver(clock);
  const b = new MemoryDriver(clock);
  MemoryDriver.link(a, b);
  return {
    a,
    b,
    clock,
    sendFromA: (p) => void a.send(p),
    deliveredAtB: () => b.delivered,
    settle: async () => {},
    close: async () => {
      await a.close();
      await b.close();
    },
  };
});
