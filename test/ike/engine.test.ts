import t from 'tap';
import { ikePair, states, childCount } from './agents.js';

t.test('two agents bring up an IKE SA and a child SA, and traffic flows', async (t) => {
  const p = await ikePair();
  t.teardown(() => p.stop());
  t.same(states(p.a), ['established'], p.a.log.join('\n'));
  t.same(states(p.b), ['established'], p.b.log.join('\n'));
  t.equal(childCount(p.a), 1);
  t.equal(childCount(p.b), 1);
  t.ok(await p.ping('a'), 'A -> B');
  t.ok(await p.ping('b'), 'B -> A');
});
