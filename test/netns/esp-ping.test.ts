/**
 * End to end through the kernel: two network namespaces joined by a veth pair (192.0.2.1/2),
 * each running `keyline run` from the built bundle with the userspace driver, a TUN device
 * through the socat bridge and manual keys. `ping` from one inner address to the other crosses
 * the ESP-in-UDP tunnel both ways. Needs root; fails (never skips) without it.
 */
import t from 'tap';
import type * as Tap from 'tap';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { agentTestbed, execIn, registerCleanup, spawnIn, type Proc } from './ns.js';

const BUNDLE = resolve('dist/keyline.js');

function keyFile(dir: string, name: string, o: { tun: string; net: string; remoteNet: string; peer: string; spiIn: string; spiOut: string; keyIn: string; keyOut: string }) {
  const path = join(dir, name);
  writeFileSync(
    path,
    [
      `# ${name}: written by esp-ping.test.ts`,
      `local listen=0.0.0.0:4500 driver=userspace tun=kl0 tun-addr=${o.tun} log-level=debug`,
      `peer other addr=${o.peer}:4500 keying=manual esp=aes256-sha256`,
      `    local-net=${o.net} remote-net=${o.remoteNet}`,
      `    spi-in=${o.spiIn} spi-out=${o.spiOut} key-in=hex:${o.keyIn} key-out=hex:${o.keyOut}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return path;
}

/** Until the agent says it is up (its own log line) and its route into kl0 is there. */
async function waitForRoute(ns: string, prefix: string, agent: Proc): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await execIn(ns, ['ip', 'route', 'show', prefix], { allowFail: true });
    if (r.stdout.includes('kl0') && agent.stderr().includes('keyline: listening on')) return;
    if (!agent.running()) throw new Error(`keyline exited early:\n${agent.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no route to ${prefix} via kl0 in ${ns} after 10 s:\n${agent.stderr()}`);
}

/** Two namespaces, a key file for each side, and a way to start `keyline run` in either. */
async function setup(t: Tap.Test) {
  // No IPv6 in the namespaces (agentTestbed): an orphaned socat then stays alive until traffic
  // comes, which is the case the restart test must cover (any packet would make it exit by itself).
  const { pair, dir } = await agentTestbed(t, BUNDLE, 'keyline-ping-');
  const k1 = randomBytes(64).toString('hex');
  const k2 = randomBytes(64).toString('hex');
  const fa = keyFile(dir, 'a.keys', { tun: '198.51.100.1/24', net: '198.51.100.0/24', remoteNet: '203.0.113.0/24', peer: pair.addrB, spiIn: '0x1001', spiOut: '0x2001', keyIn: k1, keyOut: k2 });
  const fb = keyFile(dir, 'b.keys', { tun: '203.0.113.1/24', net: '203.0.113.0/24', remoteNet: '198.51.100.0/24', peer: pair.addrA, spiIn: '0x2001', spiOut: '0x1001', keyIn: k2, keyOut: k1 });
  const start = async (side: 'a' | 'b') => {
    const [ns, file, remote] = side === 'a' ? [pair.a, fa, '203.0.113.0/24'] : [pair.b, fb, '198.51.100.0/24'];
    // Each agent its own control socket: the default /var/run/keyline.sock is one per machine.
    const agent = spawnIn(ns, [process.execPath, BUNDLE, 'run', '--config', file, '--socket', join(dir, `${side}.sock`)]);
    registerCleanup(t, () => agent.stop());
    await waitForRoute(ns, remote, agent);
    return agent;
  };
  const ping = (side: 'a' | 'b', count = 3) => {
    const [ns, src, dst] = side === 'a' ? [pair.a, '198.51.100.1', '203.0.113.1'] : [pair.b, '203.0.113.1', '198.51.100.1'];
    return execIn(ns, ['ping', '-c', String(count), '-i', '0.2', '-W', '2', '-I', src, dst], { allowFail: true, timeoutMs: 15_000 });
  };
  return { pair, k1, start, ping };
}

t.test('ping crosses the ESP-in-UDP tunnel between two namespaces', async (t) => {
  const { pair, k1, start } = await setup(t);
  const agentA = await start('a');
  const agentB = await start('b');

  const ab = await execIn(pair.a, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-I', '198.51.100.1', '203.0.113.1'], { allowFail: true, timeoutMs: 15_000 });
  t.equal(ab.code, 0, `a -> b ping:\n${ab.stdout}${ab.stderr}`);
  t.match(ab.stdout, /3 packets transmitted, 3 received/);
  const ba = await execIn(pair.b, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-I', '203.0.113.1', '198.51.100.1'], { allowFail: true, timeoutMs: 15_000 });
  t.equal(ba.code, 0, `b -> a ping:\n${ba.stdout}${ba.stderr}`);

  // The pings went through keyline's TUN device in both directions...
  const link = await execIn(pair.a, ['ip', '-s', 'link', 'show', 'kl0']);
  const [rx, tx] = [...link.stdout.matchAll(/(?:RX|TX):.*\n\s+\d+\s+(\d+)/g)].map((m) => Number(m[1]));
  t.ok(rx! >= 6 && tx! >= 6, `kl0 carried the pings (rx ${rx}, tx ${tx} packets)`);
  // ...and only through it: with B's agent gone, nothing answers.
  await agentB.stop();
  const dead = await execIn(pair.a, ['ping', '-c', '1', '-W', '1', '-I', '198.51.100.1', '203.0.113.1'], { allowFail: true, timeoutMs: 10_000 });
  t.not(dead.code, 0, 'no answer once the peer agent is stopped');

  await agentA.stop();
  t.equal((await agentA.exited).code, 0, `keyline a exits 0 on SIGTERM:\n${agentA.stderr()}`);
  t.equal((await agentB.exited).code, 0, 'keyline b exits 0 on SIGTERM');
  t.notMatch(agentA.stderr() + agentB.stderr(), /hex:[0-9a-f]{8}/i, 'no key material in the logs');
  t.notMatch(agentA.stderr(), new RegExp(k1.slice(0, 16)), 'no key bytes in the logs');
  const gone = await execIn(pair.a, ['ip', 'link', 'show', 'kl0'], { allowFail: true });
  t.not(gone.code, 0, 'the TUN device is gone after shutdown');
});

t.test('keyline killed with SIGKILL and restarted (as procd respawns it): the tunnel is back', async (t) => {
  const { start, ping } = await setup(t);
  const first = await start('a');
  await start('b');
  t.equal((await ping('a')).code, 0, 'tunnel up');
  process.kill(first.pid, 'SIGKILL');
  await first.exited;
  // Its socat is still there, holding kl0; the new agent must end it and take over.
  const again = await start('a');
  const r = await ping('a');
  t.equal(r.code, 0, `ping after the restart:\n${r.stdout}${again.stderr()}`);
  t.match(again.stderr(), /ended socat \d+ left behind/, `the orphaned bridge was ended and said so:\n${again.stderr()}`);
});
