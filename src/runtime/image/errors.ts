/** An image that cannot be read: not a PNG or JPEG, a broken header, too many pixels, or bad data. */
export class ImageError extends Error {
  override readonly name = "ImageError";
}
