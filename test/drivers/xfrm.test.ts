/**
 * The kernel driver runs the keying part of the conformance suite against a scripted `ip`
 * (test/xfrm/fake.ts): the data part needs a kernel with ESP, which test/kernel-vm/ boots.
 */
import t from 'tap';
import { keyingConformance } from './conformance.js';
import { fakeDriver } from '../xfrm/fake.js';

keyingConformance(t, 'xfrm (scripted ip)', async () => {
  const a = await fakeDriver();
  const b = await fakeDriver();
  return {
    a: a.d,
    b: b.d,
    close: async () => {
      await a.d.close();
      await b.d.close();
    },
  };
});
