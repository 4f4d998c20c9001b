import { deflateSync } from "node:zlib";
import jpeg from "jpeg-js";
import pngjs from "pngjs";

/** Images made in the tests: legal ones, and bombs whose headers claim more than their data holds. */

// PNG chunks end with a CRC-32 (zlib.crc32 is missing from Node 20 before 20.15).
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (crcTable[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A PNG chunk: length, type, data and CRC. */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

export const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A well-formed RGBA PNG that claims `width` x `height` pixels and carries one compressed row of
 * them: a few hundred bytes that a decoder without a size check inflates into gigabytes.
 */
export function bombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([
    pngSignature,
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", deflateSync(Buffer.alloc(width * 4 + 1), { level: 9 })),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A JPEG whose baseline frame header claims `width` x `height`, behind an APP1 segment to walk over. */
export function bombJpeg(width: number, height: number): Buffer {
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0x10, 0x02]), Buffer.alloc(0x1000)]);
  const sof = Buffer.from([0xff, 0xc0, 0, 17, 8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3]);
  const components = Buffer.from([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    app1,
    Buffer.from([0xff, 0xff]),
    sof,
    components,
    Buffer.from([0xff, 0xd9]),
  ]);
}

/** A PNG of one gray level, opaque. */
export function png(width: number, height: number, gray: number): Buffer {
  const img = new pngjs.PNG({ width, height });
  img.data.fill(gray);
  for (let i = 3; i < img.data.length; i += 4) img.data[i] = 255;
  return pngjs.PNG.sync.write(img);
}

/** A JPEG of one gray level. */
export function jpg(width: number, height: number, gray: number): Buffer {
  const data = Buffer.alloc(width * height * 4, gray);
  return Buffer.from(jpeg.encode({ data, width, height }, 90).data);
}
