/**
 * The soak plot's PNG writer: the signature, every chunk's length and CRC-32, IHDR as written,
 * IDAT inflating to height × (1 + 3·width) bytes with filter 0 on every row. The bitmap font:
 * glyphs as the table draws them, clipped at the image's edges. Nice tick steps. The chart: series,
 * legend boxes next to their names, and every label inside the image and clear of the others.
 */
import t from 'tap';
import { inflateSync } from 'node:zlib';
import {
  GLYPH_HEIGHT,
  GLYPH_WIDTH,
  PNG_SIGNATURE,
  crc32,
  drawText,
  encodePng,
  formatTick,
  glyphRows,
  lineChart,
  niceStep,
  textHeight,
  textWidth,
  tickValues,
  type Image,
  type Rect,
} from './png.js';

const BLACK = [0, 0, 0] as const;

function blank(width: number, height: number): Image {
  return { width, height, rgb: new Uint8Array(width * height * 3).fill(255) };
}

function pixel(img: Image, x: number, y: number): number[] {
  const at = (Math.floor(y) * img.width + Math.floor(x)) * 3;
  return [...img.rgb.subarray(at, at + 3)];
}

/** Pixels of colour c, optionally only those inside rect r. */
function count(img: Image, c: readonly number[], r: Rect = { x: 0, y: 0, width: img.width, height: img.height }): number {
  let n = 0;
  for (let y = r.y; y < r.y + r.height; y++) for (let x = r.x; x < r.x + r.width; x++) if (pixel(img, x, y).every((v, i) => v === c[i])) n++;
  return n;
}

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

t.test('the font draws glyphs dot for dot as its table says', async (t) => {
  const one = blank(GLYPH_WIDTH, GLYPH_HEIGHT);
  drawText(one, '1', 0, 0, BLACK);
  const rows = Array.from({ length: GLYPH_HEIGHT }, (_, y) => Array.from({ length: GLYPH_WIDTH }, (_, x) => (pixel(one, x, y)[0] === 0 ? '#' : '.')).join(''));
  t.same(rows, ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.'], "the '1'");
  const dots = (text: string, scale = 1) => {
    const img = blank(textWidth(text, scale) + 2, textHeight(scale) + 2);
    drawText(img, text, 1, 1, BLACK, scale);
    return count(img, BLACK);
  };
  t.equal(dots('1'), 10, "'1' has 10 dots");
  t.equal(dots('8'), 17, "'8' has 17");
  t.equal(dots('0'), 19, "'0' has 19");
  t.equal(dots('8', 3), 17 * 9, 'a scale-3 dot is 3x3 pixels');
  t.equal(dots('18'), 27, 'glyphs side by side do not overlap');
  t.equal(dots('\u20ac'), 20, 'an unknown character is drawn as a 5x7 box');
  t.equal(dots('\u2013'), dots('-'), 'an en dash is drawn as a hyphen');
  t.equal(dots(' '), 0, 'a space has none');
  for (const ch of '0123456789 .,:-()/%ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') {
    const g = glyphRows(ch);
    if (!(g.length === 7 || g.length === 8) || !g.every((row) => row >= 0 && row < 32)) t.fail(`glyph ${ch}: ${g.join(',')}`);
    if (g.join() === glyphRows('\u20ac').join()) t.fail(`glyph ${ch} is missing from the table`);
  }
  t.same([glyphRows('g').length, glyphRows('a').length], [8, 7], 'descenders get an eighth row');
  t.equal(textWidth('MB', 2), 22, 'two 5-dot glyphs and a 1-dot gap, at scale 2');
  t.equal(textWidth(''), 0, 'empty text has no width');
});

t.test('text stays inside its box and is clipped, not wrapped, at the image edge', async (t) => {
  const img = blank(40, 20);
  drawText(img, 'MB', 3, 2, BLACK, 2);
  const box = { x: 3, y: 2, width: textWidth('MB', 2), height: textHeight(2) };
  t.ok(count(img, BLACK) > 0, 'text drawn');
  t.equal(count(img, BLACK, box), count(img, BLACK), 'every dot inside the text box');
  const edge = blank(10, 10);
  drawText(edge, 'W', 8, 1, BLACK);
  t.equal(count(edge, BLACK, { x: 8, y: 0, width: 2, height: 10 }), count(edge, BLACK), 'only the two columns left of the edge');
  t.ok(count(edge, BLACK) > 0, 'the W is partly drawn');
  t.doesNotThrow(() => drawText(edge, 'keyline', -20, -3, BLACK, 3));
});

t.test('nice tick steps are 1, 2 or 5 times a power of ten', async (t) => {
  const cases: [span: number, maxIntervals: number, step: number][] = [
    [60, 6, 10], [58.3, 7, 10], [60, 12, 5], [3, 6, 0.5], [3, 4, 1], [7, 3, 5],
    [1000, 4, 500], [0.3, 3, 0.1], [0.3, 10, 0.05], [120, 6, 20], [1, 10, 0.1],
  ];
  for (const [span, max, step] of cases) t.equal(niceStep(span, max), step, `${span} in at most ${max} intervals`);
  t.equal(niceStep(0, 5), 1, 'an empty range still gets a step');
  t.same(tickValues(0, 3.01, 0.5), [0, 0.5, 1, 1.5, 2, 2.5, 3], 'half minutes up to 3');
  t.same(tickValues(0, 0.3, 0.1), [0, 0.1, 0.2, 0.3], 'no 0.30000000000000004, and 0.3 itself is included');
  t.same(tickValues(5, 42, 10), [10, 20, 30, 40], 'multiples inside the range only');
  t.same([formatTick(2, 0.5), formatTick(60, 10), formatTick(0.05, 0.05)], ['2.0', '60', '0.05'], 'as many decimals as the step needs');
});

const red = [200, 0, 0] as const;
const blue = [0, 0, 200] as const;
const twoSeries = [
  { name: 'a RSS', color: red, points: [[0, 1], [1, 2], [2, 3]] },
  { name: 'b heap', color: blue, points: [[0, 3], [1, 2], [2, 1]] },
] as const;

t.test('the line chart: series, axes, and legend boxes next to their names', async (t) => {
  const img = lineChart({ width: 320, height: 200, series: twoSeries, xLabel: 'minutes', yUnit: 'MB', title: 'keyline soak' });
  t.ok(count(img, red) > 200 && count(img, blue) > 200, `both series drawn (${count(img, red)} red, ${count(img, blue)} blue pixels)`);
  t.same(pixel(img, img.plot.x, img.plot.y + img.plot.height / 2), [0, 0, 0], 'the y axis');
  t.same(pixel(img, img.plot.x + img.plot.width / 2, img.plot.y + img.plot.height), [0, 0, 0], 'the x axis');
  const texts = img.texts.map((x) => x.text);
  t.same(texts.filter((x) => x.endsWith(' MB')), ['0.0 MB', '0.5 MB', '1.0 MB', '1.5 MB', '2.0 MB', '2.5 MB', '3.0 MB'], 'y ticks with the unit');
  t.same(texts.filter((x) => /^[\d.]+$/.test(x)), ['0.0', '0.5', '1.0', '1.5', '2.0'], 'x ticks');
  t.ok(texts.includes('keyline soak') && texts.includes('minutes'), 'title and axis name');
  twoSeries.forEach((s, i) => {
    const box = img.legendBoxes[i]!;
    const name = img.texts.find((x) => x.text === s.name)!;
    t.same(pixel(img, box.x + box.width / 2, box.y + box.height / 2), [...s.color], `legend box ${i} has the colour of ${s.name}`);
    t.ok(name.x > box.x + box.width && name.x - (box.x + box.width) < 20 && Math.abs(name.y - box.y) <= 2, `${s.name} is written just right of its box`);
  });
  const png = encodePng(img);
  const idat = chunks(png).find((c) => c.type === 'IDAT')!;
  t.equal(inflateSync(idat.data).length, 200 * (1 + 320 * 3), 'IDAT inflates to the right size');
});

t.test('every label lies inside the image and clear of the others', async (t) => {
  const title = 'keyline soak 2026-11-23, 60 min, rekeys every 4\u20137 s';
  const long = twoSeries.map((s) => ({ ...s, points: Array.from({ length: 61 }, (_, m) => [m + 0.004, 55 + m / 10] as const) }));
  for (const [width, height, series] of [[320, 200, twoSeries], [800, 400, long], [1000, 500, long]] as const) {
    const img = lineChart({ width, height, series, title, xLabel: 'minutes since start', yUnit: 'MB' });
    const inside = (r: Rect) => r.x >= 0 && r.y >= 0 && r.x + r.width <= width && r.y + r.height <= height;
    const overlap = (a: Rect, b: Rect) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
    const boxes = [...img.texts, ...img.legendBoxes.map((b) => ({ ...b, text: 'legend box' }))];
    t.same(boxes.filter((b) => !inside(b)), [], `${width}x${height}: all inside`);
    const clashes = boxes.flatMap((a, i) => boxes.slice(i + 1).filter((b) => overlap(a, b)).map((b) => `${a.text} / ${b.text}`));
    t.same(clashes, [], `${width}x${height}: no two labels overlap`);
    t.ok(img.texts.every((x) => count(img, [40, 40, 40], x) + count(img, [0, 0, 0], x) > 0), `${width}x${height}: every label has ink`);
  }
});
