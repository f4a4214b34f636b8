/**
 * log-level=debug names every inline flow event with the flow and its SPIs, on both sides, so an
 * operator can follow one host pair's SA from the offer to its removal; and the counters these
 * lines go with are the connection's own (`keyline show`).
 */
import t from 'tap';
import { HOST_A, HOST_B } from '../ike/agents.js';
import { udp4 } from '../helpers/packets.js';
import { inl, inlineIkePair } from './world.js';

const FLOW = '198.51.100.1/32 <-> 203.0.113.1/32';
const FLOW_B = '203.0.113.1/32 <-> 198.51.100.1/32';
const lines = (log: string[], what: string) => log.filter((l) => l.startsWith('debug:') && l.includes(': inline: flow ') && l.includes(what));

t.test('one flow from offer to removal, in the debug log of both sides', async (t) => {
  const p = await inlineIkePair({ idle: 30 });
  t.teardown(() => p.stop());
  p.a.tun.inject(udp4(HOST_A, HOST_B, 1000, 53, new Uint8Array(8)));
  await p.settle();
  p.b.tun.inject(udp4(HOST_B, HOST_A, 53, 1000, new Uint8Array(8)));
  await p.settle();
  p.a.tun.inject(udp4(HOST_A, HOST_B, 1000, 53, new Uint8Array(8)));
  await p.settle();

  const [offered] = lines(p.a.log, ' offered ');
  t.match(offered, new RegExp(`^debug: gw-b: inline: flow ${FLOW} offered \\(in 0x[0-9a-f]{8}\\)$`), 'A: offered, with its inbound SPI');
  const [answered] = lines(p.b.log, ' answered ');
  t.match(answered, new RegExp(`^debug: gw-a: inline: flow ${FLOW_B} answered \\(in 0x[0-9a-f]{8} out 0x[0-9a-f]{8}\\)$`), 'B: answered, with both SPIs');
  t.equal(lines(p.a.log, ' established ').length, 1, 'A: established once the answer came');
  t.equal(lines(p.b.log, ' established ').length, 1, 'B: established once A used Z');
  const spiA = /in (0x[0-9a-f]{8})/.exec(offered ?? '')?.[1];
  t.ok(spiA && answered?.includes(`out ${spiA}`), "B's outbound SPI is A's inbound one");

  await p.advance(40_000);
  t.equal(lines(p.a.log, ' idle, removed ').length, 1, 'A: removed after inline-idle');
  t.equal(lines(p.b.log, ' idle, removed ').length, 1, 'B: too');
  t.same(
    [inl(p.a).status('gw-b')?.counters?.['spawned'], inl(p.a).status('gw-b')?.counters?.['idled'], inl(p.b).status('gw-a')?.counters?.['answered']],
    [1, 1, 1],
    'the counters say the same',
  );
});
