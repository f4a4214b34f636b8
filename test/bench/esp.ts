import type { Backend, CipherSuite } from '../../src/crypto/types.js';
import { SUITES } from '../../src/crypto/suites.js';
import { openEsp, sealEsp, type SendState } from '../../src/esp/esp.js';
import { ReplayWindow } from '../../src/esp/replay.js';
import { opensslCeiling } from './openssl.js';
import { rate, table } from './table.js';

const SIZES = [64, 512, 1400];
const SUITE_LIST: CipherSuite[] = ['aes128gcm16', 'aes256gcm16', 'chacha20poly1305', 'aes128-sha256', 'aes256-sha256'];

/**
 * ESP seal and open per suite, backend and packet size, as packets/s and MB/s of payload, and
 * each as a fraction of OpenSSL's `speed -evp` for the same cipher and size in this run.
 */
export function espBench(backends: Backend[], ms: number): string {
  const rows: (string | number)[][] = [];
  for (const suite of SUITE_LIST) {
    for (const size of SIZES) {
      const ceiling = opensslCeiling(suite, size) / 1e6;
      for (const be of backends) {
        if (!be.supports(suite)) continue;
        const [seal, open] = measure(be, suite, size, ms);
        const mb = (pps: number) => (pps * size) / 1e6;
        rows.push([suite, be.name, String(size), seal, mb(seal), open, mb(open), ceiling, mb(seal) / ceiling]);
      }
    }
  }
  return table(['suite', 'backend', 'bytes', 'seal pkt/s', 'seal MB/s', 'open pkt/s', 'open MB/s', 'openssl MB/s', 'seal/openssl'], rows);
}

function measure(be: Backend, suite: CipherSuite, size: number, ms: number): [number, number] {
  const info = SUITES[suite];
  const key = be.randomBytes(info.encKeyLen);
  const integ = info.integKeyLen ? be.randomBytes(info.integKeyLen) : undefined;
  const aead = be.aead(suite, key, integ);
  const payload = be.randomBytes(size);
  const send: SendState = { spi: 0x1234, aead, esn: true, seq: 0 };
  const iv = (n: number) => be.randomBytes(n);
  const seal = rate(() => sealEsp(send, 4, payload, iv), ms);
  // Open a fresh packet each time, as a receiver would (the replay window must accept it).
  const packets = Array.from({ length: 4096 }, () => sealEsp(send, 4, payload, iv)!);
  let i = 0;
  let recv = { aead, esn: true, replay: new ReplayWindow(0) };
  const open = rate(() => {
    if (i === packets.length) [i, recv] = [0, { aead, esn: true, replay: new ReplayWindow(0) }];
    if (!openEsp(recv, packets[i++]!).ok) throw new Error('bench: open failed');
  }, ms);
  return [seal, open];
}
