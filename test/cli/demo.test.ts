import t from 'tap';
import { execFileSync } from 'node:child_process';

t.test('npm start (keyline demo): IKE in two exchanges, pings, a rekey, forgeries dropped', async (t) => {
  const out = execFileSync(process.execPath, ['dist/keyline.js', 'demo'], { encoding: 'utf8', timeout: 30_000 });
  t.match(out, /set-up: 2 exchanges, 4 messages/);
  t.match(out, /IKE_SA_INIT\s+request/);
  t.match(out, /IKE_AUTH\s+response/);
  t.match(out, /5 echo requests, 5 replies/);
  t.match(out, /CREATE_CHILD_SA request/);
  t.match(out, /5 more pings on the new SA: 5 replies/);
  t.match(out, /3 flows, 3 SA pairs, 0 IKE messages, 6 datagrams from a for 6 pings/, 'inline keying: a pair per host pair, zero extra messages');
  t.match(out, /replay=1 auth=1/);
  t.match(out, /unknown-spi=1/);
});
