/**
 * A tiny PNG writer and line-chart rasterizer for the soak test's plot, without dependencies:
 * 8-bit RGB, one IDAT, filter type 0 on every row, zlib from node:zlib, CRC-32 per chunk
 * (PNG spec §5.3, ISO 3309 polynomial 0xEDB88320). Text is drawn with a built-in 5×7 bitmap
 * font, so the chart carries its own title, tick labels, units and legend.
 */
import { deflateSync } from 'node:zlib';

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const CRC_TABLE = /* @__PURE__ */ (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(...parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const p of parts) for (const b of p) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** An RGB image: width × height × 3 bytes, row by row. */
export interface Image {
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
}

export function encodePng(img: Image): Buffer {
  const { width, height, rgb } = img;
  if (rgb.length !== width * height * 3) throw new Error(`encodePng: ${rgb.length} bytes for ${width}x${height} RGB`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  // compression 0, filter method 0, no interlace
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    raw[y * (1 + width * 3)] = 0; // filter type None
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (1 + width * 3) + 1);
  }
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

export type Rgb = readonly [number, number, number];

// ---- Drawing primitives ----

function blankImage(width: number, height: number): Image {
  return { width, height, rgb: new Uint8Array(width * height * 3).fill(255) };
}

/** Pixels outside the image are dropped, so shapes and text may cross an edge safely. */
function setPixel(img: Image, x: number, y: number, c: Rgb): void {
  x = Math.round(x);
  y = Math.round(y);
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  img.rgb.set(c, (y * img.width + x) * 3);
}

function fillRect(img: Image, x0: number, y0: number, w: number, h: number, c: Rgb): void {
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) setPixel(img, x, y, c);
}

function drawLine(img: Image, x0: number, y0: number, x1: number, y1: number, c: Rgb, thick = 1): void {
  const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  for (let i = 0; i <= n; i++) {
    const x = x0 + ((x1 - x0) * i) / n;
    const y = y0 + ((y1 - y0) * i) / n;
    for (let d = 0; d < thick; d++) setPixel(img, x, y + d, c);
  }
}

// ---- A 5×7 bitmap font ----

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
/** One row below the baseline, for the tails of g, j, p, q, y and the comma. */
const GLYPH_DESCENT = 1;
/** A blank column between glyphs. */
const GLYPH_ADVANCE = GLYPH_WIDTH + 1;

/**
 * One hex byte per row, top row first, bit 4 the leftmost column. The shapes follow the HD44780
 * character ROM, which was designed to stay legible at one pixel per dot.
 */
const GLYPHS: Readonly<Record<string, string>> = {
  ' ': '00000000000000', '.': '00000000000c0c', ',': '00000000000c0408', ':': '000c0c000c0c00',
  '-': '0000001f000000', '(': '02040808080402', ')': '08040202020408', '/': '00010204081000',
  '%': '18190204081303',
  '0': '0e11131519110e', '1': '040c040404040e', '2': '0e11010204081f', '3': '1f02040201110e',
  '4': '02060a121f0202', '5': '1f101e0101110e', '6': '0608101e11110e', '7': '1f010204080808',
  '8': '0e11110e11110e', '9': '0e11110f01020c',
  A: '0e1111111f1111', B: '1e11111e11111e', C: '0e11101010110e', D: '1c12111111121c',
  E: '1f10101e10101f', F: '1f10101e101010', G: '0e11101711110f', H: '1111111f111111',
  I: '0e04040404040e', J: '0702020202120c', K: '11121418141211', L: '1010101010101f',
  M: '111b1515111111', N: '11111915131111', O: '0e11111111110e', P: '1e11111e101010',
  Q: '0e11111115120d', R: '1e11111e141211', S: '0f10100e01011e', T: '1f040404040404',
  U: '1111111111110e', V: '11111111110a04', W: '1111111515150a', X: '11110a040a1111',
  Y: '1111110a040404', Z: '1f01020408101f',
  a: '00000e010f110f', b: '1010161911111e', c: '00000e1010110e', d: '01010d1311110f',
  e: '00000e111f100e', f: '0609081c080808', g: '00000f11110f010e', h: '10101619111111',
  i: '04000c0404040e', j: '020006020202120c', k: '10101214181412', l: '0c04040404040e',
  m: '00001a15151111', n: '00001619111111', o: '00000e1111110e', p: '00001e11111e1010',
  q: '00000f11110f0101', r: '00001619101010', s: '00000e100e011e', t: '08081c08080906',
  u: '0000111111130d', v: '00001111110a04', w: '0000111115150a', x: '0000110a040a11',
  y: '00001111110f010e', z: '00001f0204081f',
};

/** Drawn for characters the table lacks, so a missing glyph shows instead of vanishing. */
const UNKNOWN_GLYPH = '1f11111111111f';

/** Typographic dashes and the minus sign look like '-' at this size anyway. */
const LOOKALIKES: Readonly<Record<string, string>> = { '\u2013': '-', '\u2014': '-', '\u2212': '-' };

/** A character's rows of dots (7, or 8 with a descender), bit 4 the leftmost column. */
export function glyphRows(ch: string): number[] {
  const hex = GLYPHS[LOOKALIKES[ch] ?? ch] ?? UNKNOWN_GLYPH;
  return Array.from({ length: hex.length / 2 }, (_, row) => parseInt(hex.slice(2 * row, 2 * row + 2), 16));
}

export function textWidth(text: string, scale = 1): number {
  const chars = [...text].length; // code points: an en dash is one glyph
  return chars === 0 ? 0 : (chars * GLYPH_ADVANCE - 1) * scale;
}

/** The height a line of text occupies, descenders included. */
export function textHeight(scale = 1): number {
  return (GLYPH_HEIGHT + GLYPH_DESCENT) * scale;
}

/** Draws text with its top left corner at (x, y), every dot of the font a scale × scale square. */
export function drawText(img: Image, text: string, x: number, y: number, c: Rgb, scale = 1): void {
  let left = Math.round(x);
  const top = Math.round(y);
  for (const ch of text) {
    glyphRows(ch).forEach((bits, row) => {
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if (bits & (0x10 >> col)) fillRect(img, left + col * scale, top + row * scale, scale, scale, c);
      }
    });
    left += GLYPH_ADVANCE * scale;
  }
}

/** The largest scale, at most `preferred` and at least 1, at which text fits into maxWidth. */
function fittingScale(text: string, maxWidth: number, preferred: number): number {
  let scale = preferred;
  while (scale > 1 && textWidth(text, scale) > maxWidth) scale--;
  return scale;
}

// ---- Axis ticks ----

/**
 * The smallest step of 1, 2 or 5 × 10^n that cuts span into at most maxIntervals pieces: round
 * numbers are what a reader can interpolate between at a glance.
 */
export function niceStep(span: number, maxIntervals: number): number {
  if (!(span > 0)) return 1;
  const rough = span / Math.max(1, maxIntervals);
  const decade = 10 ** Math.floor(Math.log10(rough));
  // the tolerance keeps 0.30000000000000004 from skipping past 0.5 to 1
  return [1, 2, 5, 10].map((m) => m * decade).find((step) => step >= rough * (1 - 1e-9)) ?? 10 * decade;
}

/** Decimals needed to print multiples of step exactly (0.5 → 1, 0.25 is not a nice step). */
function stepDecimals(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/** The multiples of step within [min, max], rounded so that 0.1 + 0.2 prints as 0.3. */
export function tickValues(min: number, max: number, step: number): number[] {
  const digits = stepDecimals(step);
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  return Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => Number(((first + i) * step).toFixed(digits)));
}

export function formatTick(value: number, step: number): string {
  return value.toFixed(stepDecimals(step));
}

// ---- The line chart ----

export interface Series {
  readonly name: string;
  readonly color: Rgb;
  /** [x, y] in data units. */
  readonly points: readonly (readonly [number, number])[];
}

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface PlacedText extends Rect {
  readonly text: string;
}

/** The image plus where things went, for tests and for anyone annotating it further. */
export interface Chart extends Image {
  readonly plot: Rect;
  readonly texts: readonly PlacedText[];
  readonly legendBoxes: readonly Rect[];
}

export interface ChartOptions {
  readonly width: number;
  readonly height: number;
  readonly series: readonly Series[];
  readonly title?: string;
  /** The x axis name, under its tick labels. */
  readonly xLabel?: string;
  /** Appended to every y tick label ("60 MB"): the chart has no room for a rotated axis name. */
  readonly yUnit?: string;
  /** Pixels per font dot; by default 1 up to 600×300, then growing with the image. */
  readonly textScale?: number;
}

const TEXT: Rgb = [40, 40, 40];
const AXIS: Rgb = [0, 0, 0];
const GRID: Rgb = [225, 225, 225];
const TICK_LENGTH = 5;
/** Tick labels need a few text heights between them to read as separate numbers. */
const MIN_Y_TICK_GAP_LINES = 2.5;
/** Room for an x tick label of up to about six characters plus space either side. */
const MIN_X_TICK_GAP_CHARS = 9;

/**
 * A line chart: the title centred on top, a legend row (colour box, then the series' name)
 * right-aligned above the plot, y from 0 and x over the data, both with ticks at nice steps,
 * labelled and backed by a light grid, and one polyline with point markers per series.
 */
export function lineChart(o: ChartOptions): Chart {
  const img = blankImage(o.width, o.height);
  const scale = o.textScale ?? Math.max(1, Math.round(Math.min(o.width / 600, o.height / 300)));
  const gap = 2 * scale;
  const margin = 4 * scale + 4;
  const texts: PlacedText[] = [];
  const write = (text: string, x: number, y: number, align: Align, c: Rgb = TEXT, sc = scale) => {
    texts.push(placeText(img, text, leftEdge(x, textWidth(text, sc), align), y, c, sc));
  };

  let top = margin;
  if (o.title) {
    const titleScale = fittingScale(o.title, o.width - 2 * margin, scale + 1);
    write(o.title, o.width / 2, top, 'center', AXIS, titleScale);
    top += textHeight(titleScale) + gap;
  }
  const legendY = top;
  top += textHeight(scale) + 2 * gap;
  const bottom = o.height - margin - (o.xLabel ? textHeight(scale) + gap : 0) - textHeight(scale) - gap - TICK_LENGTH;

  const { xmin, xmax, ymax } = dataBounds(o.series);
  const yStep = niceStep(ymax, Math.floor((bottom - top) / (MIN_Y_TICK_GAP_LINES * textHeight(scale))));
  const yTicks = tickValues(0, yStep * Math.ceil(ymax / yStep - 1e-9), yStep);
  const yTop = yTicks[yTicks.length - 1] ?? ymax;
  const yLabels = yTicks.map((v) => (o.yUnit ? `${formatTick(v, yStep)} ${o.yUnit}` : formatTick(v, yStep)));
  const left = margin + Math.max(0, ...yLabels.map((l) => textWidth(l, scale))) + gap + TICK_LENGTH;
  const right = o.width - margin - textWidth('000', scale) / 2; // the last x label is centred on the edge
  const plot: Rect = { x: Math.round(left), y: top, width: Math.round(right - left), height: bottom - top };
  const px = (x: number) => plot.x + ((x - xmin) / (xmax - xmin)) * plot.width;
  const py = (y: number) => plot.y + plot.height - (y / yTop) * plot.height;

  const xStep = niceStep(xmax - xmin, Math.floor(plot.width / (MIN_X_TICK_GAP_CHARS * GLYPH_ADVANCE * scale)));
  for (const x of tickValues(xmin, xmax, xStep)) {
    drawLine(img, px(x), plot.y, px(x), bottom, GRID);
    drawLine(img, px(x), bottom, px(x), bottom + TICK_LENGTH, AXIS);
    write(formatTick(x, xStep), px(x), bottom + TICK_LENGTH + gap, 'center');
  }
  yTicks.forEach((y, i) => {
    drawLine(img, plot.x, py(y), plot.x + plot.width, py(y), GRID);
    drawLine(img, plot.x - TICK_LENGTH, py(y), plot.x, py(y), AXIS);
    write(yLabels[i]!, plot.x - TICK_LENGTH - gap, py(y) - (GLYPH_HEIGHT * scale) / 2, 'right');
  });
  drawLine(img, plot.x, plot.y, plot.x, bottom, AXIS);
  drawLine(img, plot.x, bottom, plot.x + plot.width, bottom, AXIS);
  if (o.xLabel) write(o.xLabel, plot.x + plot.width / 2, bottom + TICK_LENGTH + 2 * gap + textHeight(scale), 'center');

  for (const s of o.series) drawSeries(img, s, px, py);
  const legendBoxes = drawLegend(img, o.series, plot.x + plot.width, legendY, scale, texts);
  return { ...img, plot, texts, legendBoxes };
}

function dataBounds(series: readonly Series[]): { xmin: number; xmax: number; ymax: number } {
  const all = series.flatMap((s) => s.points);
  const xmin = Math.min(0, ...all.map((p) => p[0]));
  return { xmin, xmax: Math.max(xmin + 1, ...all.map((p) => p[0])), ymax: Math.max(1, ...all.map((p) => p[1])) };
}

type Align = 'left' | 'center' | 'right';

/** Where a box of this width starts when x is its left edge, its centre or its right edge. */
function leftEdge(x: number, width: number, align: Align): number {
  return align === 'left' ? x : align === 'center' ? x - width / 2 : x - width;
}

/** Draws text moved inside the image if it would cross an edge, and returns where it went. */
function placeText(img: Image, text: string, x: number, y: number, c: Rgb, scale: number): PlacedText {
  const width = textWidth(text, scale);
  const height = textHeight(scale);
  const left = Math.round(Math.min(Math.max(x, 0), img.width - width));
  const top = Math.round(Math.min(Math.max(y, 0), img.height - height));
  drawText(img, text, left, top, c, scale);
  return { text, x: left, y: top, width, height };
}

function drawSeries(img: Image, s: Series, px: (x: number) => number, py: (y: number) => number): void {
  for (let i = 1; i < s.points.length; i++) {
    const [a, b] = [s.points[i - 1]!, s.points[i]!];
    drawLine(img, px(a[0]), py(a[1]), px(b[0]), py(b[1]), s.color, 2);
  }
  for (const p of s.points) fillRect(img, Math.round(px(p[0])) - 2, Math.round(py(p[1])) - 2, 5, 5, s.color);
}

/** One row of "[box] name" entries ending at `right`; the boxes are as tall as a capital letter. */
function drawLegend(img: Image, series: readonly Series[], right: number, y: number, scale: number, texts: PlacedText[]): Rect[] {
  const box = GLYPH_HEIGHT * scale + 2;
  const boxGap = GLYPH_ADVANCE * scale;
  const entryGap = 4 * GLYPH_ADVANCE * scale;
  const entryWidth = (s: Series) => box + boxGap + textWidth(s.name, scale);
  let x = right - series.reduce((w, s) => w + entryWidth(s), 0) - entryGap * Math.max(0, series.length - 1);
  const boxes: Rect[] = [];
  for (const s of series) {
    const at: Rect = { x: Math.max(0, Math.round(x)), y: y - 1, width: box, height: box };
    fillRect(img, at.x, at.y, box, box, AXIS);
    fillRect(img, at.x + 1, at.y + 1, box - 2, box - 2, s.color);
    boxes.push(at);
    texts.push(placeText(img, s.name, at.x + box + boxGap, y, TEXT, scale));
    x = at.x + entryWidth(s) + entryGap;
  }
  return boxes;
}
