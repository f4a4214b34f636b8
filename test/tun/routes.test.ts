import t from 'tap';
import { RouteTable, canonical } from '../../src/drivers/userspace/tun/routes.js';
import { execRunner } from '../../src/drivers/userspace/tun/ip.js';
import { KeylineError } from '../../src/wire/errors.js';

/** A route table whose `ip` only records; `fail` makes matching commands fail. */
function table(fail: (argv: readonly string[]) => boolean = () => false) {
  const calls: string[][] = [];
  const logs: string[] = [];
  const routes = new RouteTable({
    ifname: 'kl0',
    log: (l) => logs.push(l),
    run: async (argv) => {
      calls.push([...argv]);
      if (fail(argv)) throw new KeylineError('ROUTE_FAILED', `'${argv.join(' ')}' failed: RTNETLINK answers: No such process`);
    },
  });
  return { routes, calls, logs };
}

t.test('add runs ip route replace, remove runs ip route del, exact argv', async (t) => {
  const { routes, calls } = table();
  await routes.add('203.0.113.0/24');
  await routes.add('2001:db8:1::/48');
  await routes.remove('203.0.113.0/24');
  await routes.remove('2001:db8:1::/48');
  t.same(calls, [
    ['ip', 'route', 'replace', '203.0.113.0/24', 'dev', 'kl0'],
    ['ip', '-6', 'route', 'replace', '2001:db8:1::/48', 'dev', 'kl0'],
    ['ip', 'route', 'del', '203.0.113.0/24', 'dev', 'kl0'],
    ['ip', '-6', 'route', 'del', '2001:db8:1::/48', 'dev', 'kl0'],
  ]);
  t.same(routes.entries(), []);
});

t.test('reference counted: the route goes with the last user', async (t) => {
  const { routes, calls } = table();
  await routes.add('203.0.113.0/24');
  await routes.add('203.0.113.0/24');
  t.equal(calls.length, 1, 'second add of the same subnet runs nothing');
  t.same(routes.entries(), [['203.0.113.0/24', 2]]);
  await routes.remove('203.0.113.0/24');
  t.equal(calls.length, 1, 'still one user left');
  await routes.remove('203.0.113.0/24');
  t.same(calls[1], ['ip', 'route', 'del', '203.0.113.0/24', 'dev', 'kl0']);
  await routes.remove('203.0.113.0/24');
  await routes.remove('192.0.2.0/24');
  t.equal(calls.length, 2, 'removing what we never added deletes nothing');
});

t.test('spellings of one subnet share a count; host bits are cleared; /0 is refused', async (t) => {
  const { routes, calls } = table();
  await routes.add('203.0.113.77/24');
  await routes.add('203.0.113.0/24');
  await routes.add('2001:DB8:0:0::/32');
  await routes.add('2001:db8::/32');
  t.same(calls, [
    ['ip', 'route', 'replace', '203.0.113.0/24', 'dev', 'kl0'],
    ['ip', '-6', 'route', 'replace', '2001:db8::/32', 'dev', 'kl0'],
  ]);
  t.equal(canonical('198.51.100.200/25'), '198.51.100.128/25');
  t.equal(canonical('198.51.100.7'), '198.51.100.7/32');
  await t.rejects(routes.add('0.0.0.0/0'), { code: 'ROUTE_REFUSED' });
  await t.rejects(routes.add('::/0'), { code: 'ROUTE_REFUSED' });
  await t.rejects(routes.add('not-an-address/8'), { code: 'BAD_ADDRESS' });
});

t.test('concurrent add and remove of one prefix run in order', async (t) => {
  const { routes, calls } = table();
  await Promise.all([routes.add('203.0.113.0/24'), routes.add('203.0.113.0/24'), routes.remove('203.0.113.0/24')]);
  t.same(routes.entries(), [['203.0.113.0/24', 1]]);
  t.equal(calls.length, 1);
});

t.test('a failed add is not counted, and the error says what ip said', async (t) => {
  const { routes, calls } = table((a) => a[2] === 'replace');
  await t.rejects(routes.add('203.0.113.0/24'), { code: 'ROUTE_FAILED', message: /No such process/ });
  t.same(routes.entries(), []);
  await routes.remove('203.0.113.0/24');
  t.equal(calls.length, 1, 'nothing to delete');
});

t.test('clear removes all it added and never rejects; reapply re-adds all', async (t) => {
  const { routes, calls, logs } = table((a) => a[2] === 'del' && a[3] === '198.51.100.0/24');
  await routes.add('203.0.113.0/24');
  await routes.add('203.0.113.0/24');
  await routes.add('198.51.100.0/24');
  calls.length = 0;
  await routes.reapply();
  t.same(calls, [
    ['ip', 'route', 'replace', '203.0.113.0/24', 'dev', 'kl0'],
    ['ip', 'route', 'replace', '198.51.100.0/24', 'dev', 'kl0'],
  ]);
  calls.length = 0;
  await routes.clear();
  t.same(calls, [
    ['ip', 'route', 'del', '203.0.113.0/24', 'dev', 'kl0'],
    ['ip', 'route', 'del', '198.51.100.0/24', 'dev', 'kl0'],
  ]);
  t.match(logs, [/198\.51\.100\.0\/24.*No such process/]);
  t.same(routes.entries(), []);
});

t.test('default runner: stderr in the error, missing program named, timeout bounded', async (t) => {
  const run = execRunner('ROUTE_FAILED', 2000);
  await t.resolves(run(['true']));
  await t.rejects(run(['sh', '-c', 'echo "RTNETLINK answers: File exists" >&2; exit 2']), {
    code: 'ROUTE_FAILED',
    message: /RTNETLINK answers: File exists/,
  });
  await t.rejects(run(['/nonexistent/ip', 'route']), { code: 'ROUTE_FAILED', message: /not found/ });
  const slow = execRunner('ROUTE_FAILED', 100);
  await t.rejects(slow(['sleep', '5']), { code: 'ROUTE_FAILED', message: /timed out after 100 ms/ });
});
