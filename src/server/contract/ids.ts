import { randomBytes } from "node:crypto";

let lastMs = 0;
let counter = 0;

/**
 * A new job id: a UUIDv7 (RFC 9562), so ids sort by creation time and both backends can list jobs
 * newest first by id alone. Within one millisecond a 12-bit counter keeps them increasing.
 */
export function newJobId(now = Date.now()): string {
  if (now <= lastMs) {
    counter++;
    if (counter > 0xfff) {
      lastMs++;
      counter = 0;
    }
  } else {
    lastMs = now;
    counter = 0;
  }
  const b = randomBytes(16);
  b.writeUIntBE(lastMs, 0, 6);
  b[6] = 0x70 | (counter >> 8);
  b[7] = counter & 0xff;
  b[8] = 0x80 | ((b[8] ?? 0) & 0x3f);
  const hex = b.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * Whether `id` looks like a job id, so that lookups of garbage never reach a store: the routes'
 * path parameter refines with it (schemas/job.ts).
 */
export function isJobId(id: string): boolean {
  return uuid.test(id);
}
