/**
 * `driver=xfrm` in the key file: planned without a TUN address, refused with inline keying
 * (the kernel driver never sees the data packets the keying header rides on).
 */
import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { planFromConfig } from '../../src/cli/plan.js';
import { ikePeer } from '../config/fixtures/keys.js';

const LOCAL = 'local id=fqdn:gw-a.example driver=xfrm\n';

t.test('driver=xfrm needs no tun-addr and reaches the agent plan', async (t) => {
  const plan = planFromConfig(parseConfig(LOCAL + ikePeer('')));
  t.equal(plan.driver, 'xfrm');
  t.equal(plan.ike.length, 1);
});

t.test('driver=userspace (the default) still needs tun-addr; its plan says no driver (userspace)', async (t) => {
  t.throws(() => planFromConfig(parseConfig('local id=fqdn:gw-a.example\n' + ikePeer(''))), { code: 'CONFIG', message: /tun-addr is required/ });
  t.equal(planFromConfig(parseConfig('local id=fqdn:gw-a.example tun-addr=198.51.100.1/24\n' + ikePeer(''))).driver, undefined);
});

t.test('driver=xfrm with inline keying is refused, naming the peer', async (t) => {
  t.throws(() => planFromConfig(parseConfig(LOCAL + ikePeer('inline=on'))), { code: 'CONFIG', message: /peer gw-b: inline keying needs driver=userspace/ });
});
