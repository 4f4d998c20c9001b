import { InputError } from "../../core/errors.js";
import type { Manifest } from "../../core/manifest.js";
import type { RgbaImage } from "./decode.js";

/** Where the channels, rows and columns sit in a certifier's input shape. */
interface Layout {
  channels: 1 | 3;
  height: number;
  width: number;
  /** Channels first ([C, H, W]) or last ([H, W, C]); a [H, W] input has one channel. */
  channelsFirst: boolean;
}

function layoutOf(manifest: Manifest, path: readonly (string | number)[]): Layout {
  const s = manifest.input.shape;
  const color = (c: number | undefined): c is 1 | 3 => c === 1 || c === 3;
  if (s.length === 2)
    return { channels: 1, height: s[0] as number, width: s[1] as number, channelsFirst: true };
  if (s.length === 3 && color(s[0]))
    return { channels: s[0], height: s[1] as number, width: s[2] as number, channelsFirst: true };
  if (s.length === 3 && color(s[2]))
    return { channels: s[2], height: s[0] as number, width: s[1] as number, channelsFirst: false };
  throw new InputError(
    `certifier "${manifest.id}" takes tensors of shape [${s.join(", ")}], not images; send a tensor`,
    path,
  );
}

/**
 * The image as the certifier's input: scaled (bilinear) to its height and width, gray (ITU-R BT.601
 * luma) or RGB as its channels say, transparency composited over black, and values mapped from
 * [0, 255] onto its input range.
 */
export function imageToInput(
  manifest: Manifest,
  image: RgbaImage,
  path: readonly (string | number)[],
): Float32Array {
  const { channels, height, width, channelsFirst } = layoutOf(manifest, path);
  const [low, high] = manifest.input.range;
  const scale = (high - low) / 255;
  const out = new Float32Array(channels * height * width);
  const px = new Float64Array(4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      sampleBilinear(
        image,
        ((x + 0.5) * image.width) / width - 0.5,
        ((y + 0.5) * image.height) / height - 0.5,
        px,
      );
      const a = (px[3] as number) / 255;
      const [r, g, b] = [(px[0] as number) * a, (px[1] as number) * a, (px[2] as number) * a];
      const values = channels === 1 ? [0.299 * r + 0.587 * g + 0.114 * b] : [r, g, b];
      values.forEach((v, c) => {
        const i = channelsFirst ? (c * height + y) * width + x : (y * width + x) * channels + c;
        out[i] = Math.min(high, Math.max(low, low + v * scale));
      });
    }
  }
  return out;
}

/** RGBA at a fractional pixel position, edges clamped. */
function sampleBilinear(img: RgbaImage, fx: number, fy: number, out: Float64Array): void {
  const clampX = (v: number) => Math.min(img.width - 1, Math.max(0, v));
  const clampY = (v: number) => Math.min(img.height - 1, Math.max(0, v));
  const x0 = clampX(Math.floor(fx));
  const y0 = clampY(Math.floor(fy));
  const x1 = clampX(x0 + 1);
  const y1 = clampY(y0 + 1);
  const tx = Math.min(1, Math.max(0, fx - x0));
  const ty = Math.min(1, Math.max(0, fy - y0));
  for (let c = 0; c < 4; c++) {
    const at = (x: number, y: number) => img.data[(y * img.width + x) * 4 + c] as number;
    const top = at(x0, y0) * (1 - tx) + at(x1, y0) * tx;
    const bottom = at(x0, y1) * (1 - tx) + at(x1, y1) * tx;
    out[c] = top * (1 - ty) + bottom * ty;
  }
}
