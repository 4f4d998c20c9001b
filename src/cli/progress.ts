/** Progress of a certification as a bar on stderr, only when stderr is a terminal (never in logs). */
export interface ProgressBar {
  update(p: { done: number; total: number }): void;
  clear(): void;
}

const width = 30;
const interval = 100;

export function progressBar(stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!stream.isTTY) return { update() {}, clear() {} };
  let last = 0;
  let shown = false;
  return {
    update({ done, total }) {
      const now = Date.now();
      // Redraw at most every `interval` ms, and always at the end.
      if (now - last < interval && done < total) return;
      last = now;
      const share = total > 0 ? Math.min(1, done / total) : 1;
      const filled = Math.round(share * width);
      const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
      stream.write(`\r[${bar}] ${(share * 100).toFixed(0).padStart(3)}% ${done}/${total} draws`);
      shown = true;
    },
    clear() {
      if (shown) stream.write("\r\x1b[K");
      shown = false;
    },
  };
}
