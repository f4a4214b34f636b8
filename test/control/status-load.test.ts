/**
 * The load part of the status model (what an operator looks at under attack): the IKE responder
 * against its caps (SAs, half-open with its peak, whether cookies are demanded), the message IDs
 * of each IKE SA, and the process's memory, which the control handler adds to `show`.
 */
import t from 'tap';
import { controlHandler } from '../../src/control/handler.js';
import { formatStatus, type AgentStatus } from '../../src/control/status.js';
import { IKE_LIMITS } from '../../src/limits.js';
import { ikePair } from '../ike/agents.js';

t.test('ikeLoad and message IDs after one IKE SA; memory from the handler; the text', async (t) => {
  const p = await ikePair();
  t.teardown(() => p.stop());
  const a = p.a.agent.status();
  const b = p.b.agent.status();
  const caps = { cookieThreshold: IKE_LIMITS.cookieThreshold, halfOpenMax: IKE_LIMITS.halfOpenMax, ikeSaMax: IKE_LIMITS.ikeSaMax };
  t.same(b.ikeLoad, { sas: 1, halfOpen: 0, halfOpenPeak: 1, cookies: false, ...caps }, 'B was half open once, during the set-up');
  t.same(a.ikeLoad, { sas: 1, halfOpen: 0, halfOpenPeak: 0, cookies: false, ...caps }, 'A never responded');
  const ids = (s: AgentStatus) => s.peers.flatMap((x) => x.ikeSas ?? []).map((x) => x.messageIds);
  // HDR(0) IKE_SA_INIT, HDR(1) IKE_AUTH: the initiator's next request is 2, the responder's 0.
  t.same(ids(a), [{ send: 2, recv: 0 }]);
  t.same(ids(b), [{ send: 0, recv: 2 }]);
  t.equal(a.memory, undefined, 'no memory in the agent model (it is the process, not the agent)');
  const shown = (await controlHandler(p.a.agent, { reload: async () => ({ added: [], removed: [], changed: [], unchanged: [] }) })({ cmd: 'show' })) as AgentStatus;
  t.ok(shown.memory && shown.memory.heapUsed > 0 && shown.memory.rss >= shown.memory.heapUsed && shown.memory.external > 0, 'show adds heapUsed, rss, external');
  const text = formatStatus({ ...shown, memory: { heapUsed: 9_240_000, rss: 61_060_000, external: 1_100_000 }, ikeLoad: { ...b.ikeLoad, halfOpen: 17, halfOpenPeak: 17, cookies: true } });
  t.match(text, /^keyline .*\nmemory: RSS 61\.1 MB, heap 9\.2 MB, external 1\.1 MB\nIKE: 1 SA \(cap 4096\), 17 half-open \(peak 17, cap 1024\), cookies ON \(17 half-open >= 16\)\n/);
  t.match(formatStatus(b), /\nIKE: 1 SA \(cap 4096\), 0 half-open \(peak 1, cap 1024\), cookies off \(on at 16 half-open\)\n/);
  t.notMatch(formatStatus(b), /memory:/, 'no memory line without figures');
  t.notMatch(formatStatus(shown, 'gw-b'), /memory:|IKE: /, 'one peer: no agent-wide lines');
});
