import t from 'tap';
import { userspacePair, type UserspacePair } from '../helpers/userspace-pair.js';
import { FaultPlan, faulty } from '../helpers/faults.js';
import { installBoth, peerConfig } from '../drivers/conformance.js';
import { udp4 } from '../helpers/packets.js';
import { readU32 } from '../../src/wire/bytes.js';
import type { Transport } from '../../src/transport/transport.js';

const N = 10_000;
const BATCH = 250;
const B32 = 0x1_0000_0000;

const packet = (from: 'a' | 'b', i: number) => {
  const data = new Uint8Array(64);
  new DataView(data.buffer).setUint32(0, i);
  return from === 'a' ? udp4('198.51.100.10', '203.0.113.10', 5000, 6000, data) : udp4('203.0.113.10', '198.51.100.10', 6000, 5000, data);
};

/** Index carried in a delivered packet (IPv4 20 + UDP 8 bytes in). */
const indexOf = (p: Uint8Array) => readU32(p, 28);

async function waitFor(p: UserspacePair, a: number, b: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    await p.settle();
    if (p.deliveredAtA().length >= a && p.deliveredAtB().length >= b) return;
  }
}

for (const udp of [false, true]) {
  t.test(`${N} packets each way over ${udp ? 'UDP on loopback' : 'the memory network'}: ESN across 2^32, replays, reordering, corruption`, async (t) => {
    const plans = { a: new FaultPlan(97), b: new FaultPlan(89) };
    const wrapped: Record<string, ReturnType<typeof faulty>> = {};
    const p = await userspacePair({ udp, wrap: (tr: Transport, side) => (wrapped[side] = faulty(tr, plans[side])) });
    t.teardown(() => p.close());
    const m = peerConfig({ local: p.endA, remote: p.endB, replayWindow: 128 });
    await installBoth(p, m);
    // Start both senders just below 2^32 so the run crosses into the second ESN block.
    p.a.sad.get('out', m.spiOut)!.send!.seq = B32 - N / 2;
    p.b.sad.get('out', m.spiIn)!.send!.seq = B32 - N / 2;

    for (let i = 0; i < N; i += BATCH) {
      for (let j = i; j < i + BATCH; j++) {
        p.sendFromA(packet('a', j));
        p.sendFromB(packet('b', j));
      }
      await waitFor(p, i + BATCH - 1, i + BATCH - 1);
    }
    wrapped.a!.flush(p.endB);
    wrapped.b!.flush(p.endA);
    await waitFor(p, N, N);

    for (const [side, got] of [['b', p.deliveredAtB()], ['a', p.deliveredAtA()]] as const) {
      const idx = got.map(indexOf);
      t.equal(idx.length, N, `${side}: every packet delivered exactly once`);
      t.equal(new Set(idx).size, N, `${side}: no duplicates`);
    }
    const inB = p.b.counters('in', m.spiOut)!;
    const inA = p.a.counters('in', m.spiIn)!;
    t.equal(inB.drops['replay'], plans.a.replayed, 'B dropped every replay');
    t.equal(inB.drops['auth'], plans.a.corrupted, 'B dropped every corrupted packet');
    t.equal(inA.drops['replay'], plans.b.replayed);
    t.equal(inA.drops['auth'], plans.b.corrupted);
    t.ok(plans.a.reordered > 0 && plans.a.replayed > 0 && plans.a.corrupted > 0, 'every fault kind happened');
    t.ok(p.a.sad.get('out', m.spiOut)!.send!.seq > B32, 'the sequence number crossed 2^32');
    t.equal(inB.packets, N);
  });
}
