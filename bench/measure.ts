/** Runs `step` repeatedly for at least `seconds` (after one warm-up call) and returns units per second. */
export async function throughput(step: () => Promise<number>, seconds: number): Promise<number> {
  await step();
  let units = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < seconds * 1000) {
    units += await step();
    elapsed = performance.now() - start;
  }
  return units / (elapsed / 1000);
}

/** Formats a rate with thousands separators: 28,104/s. */
export function perSecond(rate: number): string {
  return `${Math.round(rate).toLocaleString("en-US")}/s`;
}
