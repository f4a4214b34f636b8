/**
 * A tiny PNG writer and line-chart rasterizer for the soak test's plot, without dependencies:
 * 8-bit RGB, one IDAT, filter type 0 on every row, zlib from node:zlib, CRC-32 per chunk
 * (PNG spec §5.3, ISO 3309 polynomial 0xEDB88320).
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

export interface Series {
  readonly name: string;
  readonly color: Rgb;
  /** [x, y] in data units. */
  readonly points: readonly (readonly [number, number])[];
}

/**
 * A line chart: white background, axes with ten ticks each, a light grid, one polyline per
 * series, and the legend as coloured boxes in the top right corner (in series order; the CSV
 * next to the PNG names them). The y axis starts at 0.
 */
export function lineChart(o: { width: number; height: number; series: readonly Series[] }): Image {
  const { width, height } = o;
  const rgb = new Uint8Array(width * height * 3).fill(255);
  const set = (x: number, y: number, c: Rgb) => {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    rgb.set(c, (y * width + x) * 3);
  };
  const rect = (x0: number, y0: number, w: number, h: number, c: Rgb) => {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) set(x, y, c);
  };
  const line = (x0: number, y0: number, x1: number, y1: number, c: Rgb, thick = 1) => {
    const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let i = 0; i <= n; i++) {
      const x = x0 + ((x1 - x0) * i) / n;
      const y = y0 + ((y1 - y0) * i) / n;
      for (let d = 0; d < thick; d++) set(x, y + d, c);
    }
  };
  const pad = { left: 40, right: 20, top: 20, bottom: 30 };
  const pw = width - pad.left - pad.right;
  const ph = height - pad.top - pad.bottom;
  const all = o.series.flatMap((s) => s.points);
  const xmin = Math.min(...all.map((p) => p[0]), 0);
  const xmax = Math.max(...all.map((p) => p[0]), xmin + 1);
  const ymax = Math.max(...all.map((p) => p[1]), 1) * 1.1;
  const px = (x: number) => pad.left + ((x - xmin) / (xmax - xmin)) * pw;
  const py = (y: number) => pad.top + ph - (y / ymax) * ph;
  const grid: Rgb = [225, 225, 225];
  const axis: Rgb = [0, 0, 0];
  for (let i = 0; i <= 10; i++) {
    const gx = pad.left + (pw * i) / 10;
    const gy = pad.top + (ph * i) / 10;
    line(gx, pad.top, gx, pad.top + ph, grid);
    line(pad.left, gy, pad.left + pw, gy, grid);
    line(gx, pad.top + ph, gx, pad.top + ph + 5, axis);
    line(pad.left - 5, gy, pad.left, gy, axis);
  }
  line(pad.left, pad.top, pad.left, pad.top + ph, axis);
  line(pad.left, pad.top + ph, pad.left + pw, pad.top + ph, axis);
  for (const s of o.series) {
    for (let i = 1; i < s.points.length; i++) {
      const [a, b] = [s.points[i - 1]!, s.points[i]!];
      line(px(a[0]), py(a[1]), px(b[0]), py(b[1]), s.color, 2);
    }
    for (const p of s.points) rect(Math.round(px(p[0])) - 2, Math.round(py(p[1])) - 2, 5, 5, s.color);
  }
  o.series.forEach((s, i) => {
    const x = width - pad.right - 14 * (o.series.length - i);
    rect(x - 1, pad.top - 1, 12, 12, axis);
    rect(x, pad.top, 10, 10, s.color);
  });
  return { width, height, rgb };
}
