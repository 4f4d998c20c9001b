import jpeg from "jpeg-js";
import pngjs from "pngjs";
import { ImageError } from "./errors.js";
import { MAX_IMAGE_PIXELS, readImageHeader } from "./header.js";

/** Decoded pixels, 8-bit RGBA, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * A PNG or JPEG file's pixels (pure JS decoders: pngjs, jpeg-js), its header checked first so that
 * an image over `maxPixels` is refused before any decoding. Blocks for as long as decoding takes
 * (about a second at the limit): the service and the CLI call it on a thread of its own
 * (`ImageDecoder`). Throws an ImageError.
 */
export function decodeImageSync(bytes: Uint8Array, maxPixels = MAX_IMAGE_PIXELS): RgbaImage {
  const header = readImageHeader(bytes, maxPixels);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let image: RgbaImage;
  try {
    if (header.format === "png") {
      const png = pngjs.PNG.sync.read(buffer);
      image = { width: png.width, height: png.height, data: png.data };
    } else {
      const img = jpeg.decode(buffer, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: maxPixels / 1e6,
        maxMemoryUsageInMB: 256,
      });
      image = { width: img.width, height: img.height, data: img.data };
    }
  } catch (e) {
    throw new ImageError(`cannot decode the image: ${(e as Error).message}`);
  }
  // The header read is the one decoded: anything else means the two parsers disagree.
  if (image.width !== header.width || image.height !== header.height) {
    throw new ImageError(
      `cannot decode the image: its header says ${header.width} x ${header.height}, its data ${image.width} x ${image.height}`,
    );
  }
  return image;
}
