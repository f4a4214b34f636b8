/**
 * A NAT in front of A rebinds: A's packets reach B from a new port. Authenticated ESP from there
 * moves B's outbound SA at once (the userspace driver), and now the IKE SA too, with a liveness
 * check to confirm the peer at its new address, instead of B's IKE requests going to the dead
 * mapping until A happens to send an IKE request of its own. A replayed ESP packet from yet
 * another port moves nothing.
 *
 *   A 192.0.2.1:4500 --NAT--> 192.0.2.1:40000 (after the rebind) ---> B 192.0.2.2:4500
 */
import t from 'tap';
import type { Endpoint } from '../../src/sa/types.js';
import { ADDR_A, ADDR_B, ikePair } from './agents.js';

const A_INSIDE: Endpoint = { addr: ADDR_A, port: 4500 };
const A_MAPPED: Endpoint = { addr: ADDR_A, port: 40000 };
const isEsp = (d: Uint8Array) => d.length > 8 && (d[0] !== 0 || d[1] !== 0 || d[2] !== 0 || d[3] !== 0);
const same = (x: Endpoint, y: Endpoint) => x.addr === y.addr && x.port === y.port;

t.test("a NAT rebinding in front of the peer: B's IKE SA follows the first authenticated ESP, and checks", async (t) => {
  const p = await ikePair({ a: { dpd: 30 }, b: { dpd: 30 } });
  t.teardown(() => p.stop());
  const bSa = () => p.b.agent.ike.sas()[0]!;
  t.same(bSa().remote, A_INSIDE, 'B talks to A at 4500');

  // From now on the NAT maps A's 4500 to 40000 both ways.
  let nat = false;
  let lastEspToB: Uint8Array | undefined;
  p.net.fault = (d, from, to) => {
    if (same(to, { addr: ADDR_B, port: 4500 }) && isEsp(d)) lastEspToB = d.slice();
    if (!nat || !same(from, A_INSIDE) || to.addr !== ADDR_B) return [d];
    queueMicrotask(() => p.net.carry(d, A_MAPPED, to));
    return [];
  };
  const outside = p.net.attach(A_MAPPED);
  outside.onDatagram((d, from) => p.net.carry(d, from, A_INSIDE));
  nat = true;

  const liveness = () => p.b.log.filter((l) => /liveness check/.test(l)).length;
  const checksBefore = liveness();
  t.ok(await p.ping('a'), 'A -> B: ESP now arrives from the new port');
  await p.settle();
  t.same(bSa().remote, A_MAPPED, "B's IKE SA follows it at once");
  t.ok(p.b.log.some((l) => /peer's ESP comes from 192\.0\.2\.1:40000 now, was 192\.0\.2\.1:4500: the IKE SA follows/.test(l)), 'B says so');
  t.equal(liveness(), checksBefore + 1, 'and sends one liveness check there');
  t.equal(p.b.agent.ike.sas()[0]!.window.counters.retransmits, 0, 'answered through the NAT, no retransmission');
  t.ok(await p.ping('b'), 'B -> A goes through the NAT');

  // A captured ESP packet re-sent from another port: already seen, it moves nothing.
  const replay = lastEspToB!;
  p.net.carry(replay, { addr: ADDR_A, port: 50000 }, { addr: ADDR_B, port: 4500 });
  await p.settle();
  t.same(bSa().remote, A_MAPPED, 'a replayed packet from elsewhere does not move the IKE SA');
  t.equal(liveness(), checksBefore + 1, 'nor cause a liveness check');

  await p.advance(120_000, 5_000);
  t.same([p.a.agent.ike.sas().length, p.b.agent.ike.sas().length], [1, 1], 'two minutes of liveness checks later: the same single IKE SA');
  t.same(bSa().remote, A_MAPPED, 'still at the mapped port');
  t.ok(await p.ping('a'), 'traffic flows A -> B');
  t.ok(await p.ping('b'), 'and B -> A');
});
