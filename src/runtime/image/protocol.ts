/** What the image decoder's thread is asked: decode `bytes`, with at most `maxPixels` pixels. */
export interface DecodeRequest {
  id: number;
  bytes: Uint8Array;
  maxPixels: number;
}

/** Its answer: the pixels (their buffer transferred), or why the image was refused. */
export type DecodeAnswer =
  | { id: number; width: number; height: number; data: Uint8Array }
  | { id: number; error: string };
