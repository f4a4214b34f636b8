/**
 * The soak plot's PNG writer: the signature, every chunk's length and CRC-32, IHDR as written,
 * IDAT inflating to height × (1 + 3·width) bytes with filter 0 on every row, and the chart's
 * pixels where the series and the legend put them.
 */
import t from 'tap';
import { inflateSync } from 'node:zlib';
import { PNG_SIGNATURE, crc32, encodePng, lineChart } from './png.js';

function chunks(png: Buffer): { type: string; data: Buffer; crcOk: boolean }[] {
  const out: { type: string; data: Buffer; crcOk: boolean }[] = [];
  for (let at = 8; at < png.length; ) {
    const len = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString('latin1');
    const data = png.subarray(at + 8, at + 8 + len);
    out.push({ type, data, crcOk: png.readUInt32BE(at + 8 + len) === crc32(png.subarray(at + 4, at + 8 + len)) });
    at += 12 + len;
  }
  return out;
}

t.test('CRC-32 known answers', async (t) => {
  t.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926, 'the check value of CRC-32/ISO-HDLC');
  t.equal(crc32(new Uint8Array(0)), 0);
  t.equal(crc32(new TextEncoder().encode('IEND')), 0xae426082, 'the CRC every PNG ends with');
});

t.test('a 3x2 image: signature, chunks, CRCs, IHDR, IDAT size and bytes', async (t) => {
  const rgb = Uint8Array.from({ length: 18 }, (_, i) => i * 10);
  const png = encodePng({ width: 3, height: 2, rgb });
  t.same([...png.subarray(0, 8)], [...PNG_SIGNATURE], 'signature');
  const cs = chunks(png);
  t.same(cs.map((c) => c.type), ['IHDR', 'IDAT', 'IEND'], 'chunk order');
  t.ok(cs.every((c) => c.crcOk), 'every CRC matches');
  const ihdr = cs[0]!.data;
  t.same([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ...ihdr.subarray(8)], [3, 2, 8, 2, 0, 0, 0], 'IHDR: 3x2, 8-bit RGB, no interlace');
  const raw = inflateSync(cs[1]!.data);
  t.equal(raw.length, 2 * (1 + 3 * 3), 'IDAT inflates to height x (1 + 3 width)');
  t.same([...raw.subarray(0, 10)], [0, ...rgb.subarray(0, 9)], 'row 0: filter 0, then its pixels');
  t.same([...raw.subarray(10)], [0, ...rgb.subarray(9)], 'row 1');
  t.throws(() => encodePng({ width: 3, height: 2, rgb: new Uint8Array(17) }), /17 bytes for 3x2/);
});

t.test('the line chart: series and legend colours land on the image', async (t) => {
  const red = [200, 0, 0] as const;
  const blue = [0, 0, 200] as const;
  const img = lineChart({
    width: 320,
    height: 200,
    series: [
      { name: 'a', color: red, points: [[0, 1], [1, 2], [2, 3]] },
      { name: 'b', color: blue, points: [[0, 3], [1, 2], [2, 1]] },
    ],
  });
  const px = (x: number, y: number) => [...img.rgb.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
  const count = (c: readonly number[]) => {
    let n = 0;
    for (let i = 0; i < img.rgb.length; i += 3) if (img.rgb[i] === c[0] && img.rgb[i + 1] === c[1] && img.rgb[i + 2] === c[2]) n++;
    return n;
  };
  t.ok(count(red) > 200 && count(blue) > 200, `both series drawn (${count(red)} red, ${count(blue)} blue pixels)`);
  t.same(px(320 - 20 - 28 + 5, 25), [...red], 'legend box 1 is red');
  t.same(px(320 - 20 - 14 + 5, 25), [...blue], 'legend box 2 is blue');
  t.same(px(40, 100), [0, 0, 0], 'the y axis');
  const png = encodePng(img);
  const idat = chunks(png).find((c) => c.type === 'IDAT')!;
  t.equal(inflateSync(idat.data).length, 200 * (1 + 320 * 3), 'IDAT inflates to the right size');
});
