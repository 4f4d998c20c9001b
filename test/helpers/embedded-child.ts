import { localModelStore } from "../../src/runtime/model-store.js";
import { createEmbeddedQueue } from "../../src/server/jobs/embedded.js";
import { halfSpaceSpec, until } from "./jobs.js";

/*
 * A server's embedded queue in a process of its own, to be killed: accepts a long job and five
 * short ones behind it, prints each id once accepted, then "running" once the long job runs.
 */
const [dataDir = "", zoo = ""] = process.argv.slice(2);
const q = await createEmbeddedQueue({
  store: localModelStore(zoo),
  dataDir,
  concurrency: 1,
  threads: 1,
  providers: ["cpu"],
});
const long = await q.submit(halfSpaceSpec({ n: 1e9, batchSize: 1000 }), { fingerprint: "long" });
process.stdout.write(`${long.job.id}\n`);
for (let seed = 1; seed <= 5; seed++) {
  const { job } = await q.submit(halfSpaceSpec({ seed }), { fingerprint: String(seed) });
  process.stdout.write(`${job.id}\n`);
}
await until(async () => ((await q.get(long.job.id))?.progress.done ?? 0) > 0, "the long job to run");
process.stdout.write("running\n");
setInterval(() => {}, 60_000);
