/** Progress of an evaluation on stderr, only when it is a terminal: images done / total and ETA. */
export interface EvalProgressBar {
  update(p: { images: number; total: number }): void;
  clear(): void;
}

const width = 30;
const interval = 200;

export function evalProgressBar(
  stream: NodeJS.WriteStream = process.stderr,
  now: () => number = Date.now,
): EvalProgressBar {
  if (!stream.isTTY) return { update() {}, clear() {} };
  const start = now();
  let last = 0;
  let shown = false;
  return {
    update({ images, total }) {
      const t = now();
      if (t - last < interval && images < total) return;
      last = t;
      const share = total > 0 ? Math.min(1, images / total) : 1;
      const filled = Math.round(share * width);
      // ETA from the mean pace so far, the current image's draws included.
      const eta = share > 0 ? ((t - start) / share) * (1 - share) : Number.NaN;
      stream.write(
        `\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${Math.floor(images)}/${total} images  ETA ${duration(eta)}\x1b[K`,
      );
      shown = true;
    },
    clear() {
      if (shown) stream.write("\r\x1b[K");
      shown = false;
    },
  };
}

/** "1h02m", "3m05s", "12s"; "?" before any progress. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return "?";
  const s = Math.round(ms / 1000);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}
