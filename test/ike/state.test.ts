import t from 'tap';
import { StateMachine } from '../../src/ike/state.js';

t.test('the life of an IKE SA, logged transition by transition', async (t) => {
  const lines: string[] = [];
  const m = new StateMachine('gw-b[1]', (l) => lines.push(l));
  m.set('authenticating', 'IKE_SA_INIT done');
  m.set('established', 'IKE_AUTH done');
  m.set('rekeying', 'lifetime');
  m.set('established', 'rekeyed');
  m.set('deleting', 'operator');
  m.set('closed', 'DELETE answered');
  t.same(lines, [
    'gw-b[1]: connecting -> authenticating (IKE_SA_INIT done)',
    'gw-b[1]: authenticating -> established (IKE_AUTH done)',
    'gw-b[1]: established -> rekeying (lifetime)',
    'gw-b[1]: rekeying -> established (rekeyed)',
    'gw-b[1]: established -> deleting (operator)',
    'gw-b[1]: deleting -> closed (DELETE answered)',
  ]);
  t.ok(m.is('closed'));
});

t.test('transitions the table does not list are refused with a typed error', async (t) => {
  const m = new StateMachine('p', () => {});
  t.throws(() => m.set('established', 'skipping IKE_AUTH'), { code: 'IKE_STATE' });
  t.equal(m.state, 'connecting', 'state unchanged after a refused transition');
  m.set('closed', 'timeout');
  t.throws(() => m.set('connecting', 'revive'), { code: 'IKE_STATE' }, 'closed is final');
});
