/**
 * Parsing iproute2's output. The samples are verbatim from iproute2 6.1 on Debian's 6.1 kernel
 * (captured in the kernel-vm guest), including the larval SA an acquire leaves behind.
 */
import t from 'tap';
import { blocks, MonitorSplitter, parseMonitorMessage, parsePolicies, parseRouteSrc, parseStates, parseXfrmStat } from '../../src/drivers/xfrm/parse.js';
import { REQID_BASE } from '../../src/drivers/xfrm/commands.js';

const STATES = `src 192.0.2.1 dst 192.0.2.2
	proto esp spi 0x00000000(0) reqid 1802240009(0x6b6c0009) mode tunnel
	replay-window 0 seq 0x00000001 flag  (0x00000000)
	anti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000
	sel src 198.51.100.1/32 dst 203.0.113.1/32 proto icmp type 8 code 0 dev va uid 0
	lifetime config:
	  limit: soft (INF)(bytes), hard (INF)(bytes)
	  limit: soft (INF)(packets), hard (INF)(packets)
	  expire add: soft 0(sec), hard 30(sec)
	  expire use: soft 0(sec), hard 0(sec)
	lifetime current:
	  0(bytes), 0(packets)
	  add 2026-11-23 13:01:59 use -
	stats:
	  replay-window 0 replay 0 failed 0
src 192.0.2.1 dst 192.0.2.2
	proto esp spi 0x00003000(12288) reqid 1802240003(0x6b6c0003) mode tunnel
	replay-window 32 seq 0x00000000 flag  (0x00000000)
	aead rfc7539esp(chacha20,poly1305) <<Keys hidden>> 128
	anti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000
	sel src 0.0.0.0/0 dst 0.0.0.0/0 uid 0
	lifetime config:
	  limit: soft (INF)(bytes), hard (INF)(bytes)
	  limit: soft (INF)(packets), hard (INF)(packets)
	  expire add: soft 0(sec), hard 0(sec)
	  expire use: soft 0(sec), hard 0(sec)
	lifetime current:
	  1680(bytes), 20(packets)
	  add 2026-11-23 13:01:58 use 2026-11-23 13:02:01
	stats:
	  replay-window 2 replay 1 failed 3
src 192.0.2.2 dst 192.0.2.1
	proto esp spi 0x17bad8da(398121178) reqid 5(0x00000005) mode transport
	replay-window 0 seq 0x00000000 flag esn (0x10000000)
	aead rfc4106(gcm(aes)) <<Keys hidden>> 128
	anti-replay esn context:
	 seq-hi 0x0, seq 0x0, oseq-hi 0x0, oseq 0x0
	 replay_window 4096, bitmap-length 128
	 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 
	sel src 203.0.113.0/24 dst 198.51.100.0/24 uid 0
	lifetime current:
	  84(bytes), 1(packets)
	stats:
	  replay-window 0 replay 0 failed 0
`;

t.test('ip -s xfrm state list nokeys: SAs with counters and drops', async (t) => {
  const s = parseStates(STATES);
  t.equal(s.length, 3);
  t.match(s[0], { spi: 0, kreqid: REQID_BASE + 9, reqid: 9, packets: 0 }, 'the larval SA of an acquire');
  t.match(s[1], { src: '192.0.2.1', dst: '192.0.2.2', spi: 0x3000, reqid: 3, mode: 'tunnel', bytes: 1680, packets: 20, replayWindow: 2, replay: 1, failed: 3 });
  t.match(s[2], { spi: 0x17bad8da, kreqid: 5, reqid: undefined, mode: 'transport', bytes: 84, packets: 1 }, "another daemon's SA: no reqid of ours");
});

t.test('ip xfrm state allocspi output (no -s): the SPI', async (t) => {
  const out = 'src 192.0.2.2 dst 192.0.2.1\n\tproto esp spi 0x5b8c47d5 reqid 1802240001 mode tunnel\n\treplay-window 0 \n\tanti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000\n\tsel src 192.0.2.2/32 dst 192.0.2.1/32 \n';
  t.match(parseStates(out), [{ spi: 0x5b8c47d5, reqid: 1 }]);
});

t.test('ip xfrm policy list: selectors reusable as arguments, directions, template reqids', async (t) => {
  const text = `src 198.51.100.0/24 dst 203.0.113.0/24 proto tcp dport 80 
	dir in priority 100 ptype main 
	tmpl src 192.0.2.2 dst 192.0.2.1
		proto esp reqid 1802240001 mode tunnel
src 0.0.0.0/0 dst 0.0.0.0/0 proto udp sport 500 
	dir out priority 1 ptype main 
src ::/0 dst ::/0 
	socket in priority 0 ptype main 
`;
  t.same(parsePolicies(text), [
    { selector: ['src', '198.51.100.0/24', 'dst', '203.0.113.0/24', 'proto', 'tcp', 'dport', '80'], dir: 'in', priority: 100, kreqids: [REQID_BASE + 1] },
    { selector: ['src', '0.0.0.0/0', 'dst', '0.0.0.0/0', 'proto', 'udp', 'sport', '500'], dir: 'out', priority: 1, kreqids: [] },
  ]);
});

const EXPIRE_SOFT = `Expired src 192.0.2.1 dst 192.0.2.2
	proto esp spi 0x00001000 reqid 1802240001 mode tunnel
	replay-window 0 flag esn
	sel src 198.51.100.0/24 dst 203.0.113.0/24 
	hard 0
`;
const EXPIRE_HARD = EXPIRE_SOFT.replace('hard 0', 'hard 1');
const ACQUIRE = `acquire proto esp 
  sel src 198.51.100.1/32 dst 203.0.113.1/32 proto icmp type 8 code 0 dev va 
  policy src 198.51.100.0/24 dst 203.0.113.0/24 
    	dir out priority 100 ptype main 
    	tmpl src 192.0.2.1 dst 192.0.2.2
    		proto esp reqid 1802240001 mode tunnel

`;

t.test('ip xfrm monitor: soft and hard expires, acquires', async (t) => {
  const msg = (s: string) => parseMonitorMessage(blocks(s)[0]!);
  t.same(msg(EXPIRE_SOFT), { type: 'expire', src: '192.0.2.1', dst: '192.0.2.2', spi: 0x1000, kreqid: REQID_BASE + 1, hard: false });
  t.match(msg(EXPIRE_HARD), { type: 'expire', hard: true });
  t.same(msg(ACQUIRE), { type: 'acquire', kreqid: REQID_BASE + 1, src: '198.51.100.0/24', dst: '203.0.113.0/24', dir: 'out' });
  t.equal(msg('Flushed state proto 0\n'), undefined);
  t.equal(msg('Expired src 192.0.2.1 dst 192.0.2.2\n\tproto esp\n'), undefined, 'truncated: no SPI, no hard');
});

t.test('the monitor stream is split into messages across arbitrary chunk boundaries', async (t) => {
  const got: string[][] = [];
  const s = new MonitorSplitter((m) => got.push(m));
  const all = EXPIRE_SOFT + ACQUIRE + EXPIRE_HARD;
  for (let i = 0; i < all.length; i += 7) s.push(all.slice(i, i + 7));
  t.equal(got.length, 2, 'the last message waits for the next one or a flush');
  s.flush();
  t.same(got.map((m) => parseMonitorMessage(m)?.type), ['expire', 'acquire', 'expire']);
});

t.test('/proc/net/xfrm_stat: non-zero counters under keyline reasons', async (t) => {
  const text = 'XfrmInError             \t0\nXfrmInNoStates          \t4\nXfrmInStateProtoError   \t2\nXfrmOutNoStates         \t9\nXfrmFwdHdrError         \t1\n';
  t.same(parseXfrmStat(text), { 'unknown-spi': 4, auth: 2, 'no-sa': 9, XfrmFwdHdrError: 1 });
});

t.test('ip -o route get: the source address', async (t) => {
  t.equal(parseRouteSrc('192.0.2.2 dev va src 192.0.2.1 uid 0 \\    cache \n'), '192.0.2.1');
  t.equal(parseRouteSrc('local 127.0.0.1 dev lo table local uid 0'), undefined);
});
