import { ImageError } from "./errors.js";

/** What an image file's header says, read without decoding any pixel. */
export interface ImageHeader {
  format: "png" | "jpeg";
  width: number;
  height: number;
}

/** Decoding limit, so that a small file cannot make the decoder allocate gigabytes. */
export const MAX_IMAGE_PIXELS = 16_000_000;

const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The format and dimensions of a PNG (its IHDR chunk) or JPEG (its SOFn frame header), refused
 * when the header is truncated or malformed or when the image has more than `maxPixels` pixels.
 * Reads a few bytes and allocates nothing in proportion to the claimed size.
 */
export function readImageHeader(bytes: Uint8Array, maxPixels = MAX_IMAGE_PIXELS): ImageHeader {
  const header = sniff(bytes);
  if (header.width * header.height > maxPixels) {
    throw new ImageError(
      `the image is ${header.width} x ${header.height} pixels, more than the ${maxPixels / 1e6} megapixels allowed`,
    );
  }
  return header;
}

function sniff(bytes: Uint8Array): ImageHeader {
  if (bytes.length >= 2 && bytes[0] === 0x89 && bytes[1] === 0x50) return pngHeader(bytes);
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegHeader(bytes);
  throw new ImageError("not a PNG or JPEG image");
}

const u16 = (b: Uint8Array, at: number) => ((b[at] as number) << 8) | (b[at + 1] as number);
const u32 = (b: Uint8Array, at: number) => u16(b, at) * 0x10000 + u16(b, at + 2);

/** PNG: the 8-byte signature, then IHDR, which must come first, with its 13 bytes of data. */
function pngHeader(b: Uint8Array): ImageHeader {
  if (b.length < 8 || pngSignature.some((v, i) => b[i] !== v))
    throw new ImageError("not a PNG image: bad signature");
  if (b.length < 8 + 8 + 13) throw new ImageError("truncated PNG: the file ends before its IHDR header");
  const type = String.fromCharCode(...b.subarray(12, 16));
  if (type !== "IHDR" || u32(b, 8) !== 13)
    throw new ImageError("malformed PNG: it does not start with an IHDR header");
  const width = u32(b, 16);
  const height = u32(b, 20);
  // The PNG specification caps both at 2^31 - 1.
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) {
    throw new ImageError(`malformed PNG: IHDR says ${width} x ${height} pixels`);
  }
  return { format: "png", width, height };
}

/**
 * JPEG: walk the marker segments after SOI to the first frame header (SOF0 to SOF15 but DHT, JPG
 * and DAC), whose height and width follow its sample precision.
 */
function jpegHeader(b: Uint8Array): ImageHeader {
  let at = 2;
  for (;;) {
    if (at >= b.length) throw new ImageError("truncated JPEG: the file ends before its frame header");
    if (b[at] !== 0xff) throw new ImageError(`malformed JPEG: expected a marker at byte ${at}`);
    // Any number of 0xFF fill bytes may precede a marker.
    while (b[at] === 0xff && at < b.length) at++;
    if (at >= b.length) throw new ImageError("truncated JPEG: the file ends before its frame header");
    const marker = b[at] as number;
    at++;
    // Standalone markers (TEM, RST0 to RST7) have no length.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9 || marker === 0xda || marker === 0xd8 || marker === 0x00) {
      throw new ImageError("malformed JPEG: no frame header before its image data");
    }
    if (at + 2 > b.length) throw new ImageError("truncated JPEG: the file ends before its frame header");
    const length = u16(b, at);
    if (length < 2) throw new ImageError(`malformed JPEG: segment at byte ${at - 2} has length ${length}`);
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (length < 8 || at + 7 > b.length)
        throw new ImageError("truncated JPEG: the frame header is cut short");
      const height = u16(b, at + 3);
      const width = u16(b, at + 5);
      // A height of 0 defers it to a DNL marker after the first scan, which the decoder does not read.
      if (width === 0 || height === 0)
        throw new ImageError(`malformed JPEG: frame header says ${width} x ${height} pixels`);
      return { format: "jpeg", width, height };
    }
    at += length;
  }
}
