import { createHash } from "node:crypto";
import { expect } from "vitest";
import type { CertifyParameters } from "../../src/core/parameters.js";
import { type JobQueue, type JobSpec, QueueFullError } from "../../src/server/contract/jobs.js";
import { SHAPE, twoDistances } from "./halfspace.js";

/** A job spec for the half-space zoo (test/helpers/halfspace.ts), as the API would hand it over. */
export function halfSpaceSpec(
  parameters: Partial<CertifyParameters> = {},
  extra: Partial<JobSpec> = {},
  point: number[] = twoDistances(0.8, 0.6),
): JobSpec {
  const bytes = Buffer.from(Float32Array.from(point).buffer);
  return {
    certifier: "dual-halfspace",
    input: {
      shape: SHAPE,
      data: bytes.toString("base64"),
      sha256: createHash("sha256").update(bytes).digest("hex"),
    },
    parameters: { n0: 64, n: 512, alpha: 0.01, batchSize: 128, seed: 7, ...parameters },
    ...extra,
  };
}

/** Resolves after `predicate` holds, checking every few milliseconds. */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  what = "a condition",
): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Holds a queue to a cap of 2 queued jobs per owner, on a queue where nothing else of team-a or
 * team-b waits: the third job of team-a is refused, a replay of an accepted one is not, team-b's
 * job is taken, and the refused request's key is free for its retry once there is room.
 */
export async function expectQueuedCap(q: JobQueue): Promise<void> {
  const as = (owner: string, seed: number, key?: string) =>
    q.submit(halfSpaceSpec({ seed }), {
      owner,
      fingerprint: String(seed),
      idempotencyKey: key,
      maxQueued: 2,
    });
  const first = await as("team-a", 1, "k1");
  await as("team-a", 2);
  await expect(as("team-a", 3, "k3")).rejects.toBeInstanceOf(QueueFullError);
  expect(await as("team-a", 1, "k1")).toMatchObject({ job: { id: first.job.id }, replayed: true });
  expect((await as("team-b", 4)).job.status).toBe("queued");
  expect(await q.counts("team-a")).toMatchObject({ queued: 2, running: 0 });
  await q.cancel(first.job.id);
  expect(await as("team-a", 3, "k3")).toMatchObject({ replayed: false, job: { status: "queued" } });
}

/**
 * Holds a queue that runs none of team-a's jobs to a cap of 10 queued jobs under 50 simultaneous
 * submissions: exactly 10 are accepted, the rest refused; once one is canceled, one more fits.
 */
export async function expectCapUnderLoad(q: JobQueue): Promise<void> {
  const as = (seed: number) =>
    q.submit(halfSpaceSpec({ seed }), { owner: "team-a", fingerprint: String(seed), maxQueued: 10 });
  const results = await Promise.allSettled(Array.from({ length: 50 }, (_, seed) => as(seed)));
  const accepted = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.job] : []));
  const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
  expect(accepted).toHaveLength(10);
  for (const e of refused) expect(e).toBeInstanceOf(QueueFullError);
  expect(await q.counts("team-a")).toMatchObject({ queued: 10 });
  await q.cancel(accepted[0]?.id ?? "");
  expect((await as(50)).job.status).toBe("queued");
  await expect(as(51)).rejects.toBeInstanceOf(QueueFullError);
}
