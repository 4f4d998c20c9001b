/**
 * Sequential sampling against fixed n on the zoo (docs/sequential.md): draws and wall time of Dual RS
 * with fixed n, with the sequential estimator stage, and of one global sigma; then target mode at
 * a few radii against the fixed-n certificate's verdict at the same radius. Prints a Markdown table.
 *
 *   npx tsx bench/sequential.ts   (DUALRS_SEQ_COUNT images (50), every DUALRS_SEQ_SKIP-th (200),
 *   DUALRS_SEQ_N (10000), DUALRS_SEQ_SIGMA: the global sigma (0.5), DUALRS_ZOO (models))
 */
import { type Certificate, type CertifyParameters, certifyInput } from "../src/core/index.js";
import { defaultDataDir, loadFashionMnist } from "../src/eval/dataset.js";
import { certificateDraws } from "../src/eval/row.js";
import { loadCertifier, localModelStore } from "../src/runtime/index.js";

const COUNT = Number(process.env.DUALRS_SEQ_COUNT ?? 50);
const SKIP = Number(process.env.DUALRS_SEQ_SKIP ?? 200);
const N = Number(process.env.DUALRS_SEQ_N ?? 10_000);
const SIGMA = Number(process.env.DUALRS_SEQ_SIGMA ?? 0.5);
const TARGETS = [0.25, 0.5, 1.0];

const dataset = await loadFashionMnist(defaultDataDir());
const certifier = await loadCertifier(
  localModelStore(process.env.DUALRS_ZOO ?? "models"),
  "fmnist-dual-experts",
  {
    providers: ["cpu"],
  },
);
const base = { n0: 100, n: N, alpha: 0.001 };
const images = Array.from({ length: COUNT }, (_, k) => k * SKIP);

interface Run {
  certs: Certificate[];
  labels: number[];
  seconds: number;
  draws: number;
}

async function run(parameters: CertifyParameters): Promise<Run> {
  const out: Run = { certs: [], labels: [], seconds: 0, draws: 0 };
  for (const idx of images) {
    const start = performance.now();
    const cert = await certifyInput(certifier, dataset.image(idx), { ...base, ...parameters, seed: idx });
    out.seconds += (performance.now() - start) / 1000;
    out.draws += certificateDraws(cert);
    out.certs.push(cert);
    out.labels.push(dataset.label(idx));
  }
  return out;
}

const correct = (r: Run, k: number) => r.certs[k]?.prediction?.index === r.labels[k];
/** Certified accuracy at eps: correct with radius >= eps (in target mode: certifiedAtTarget). */
const accuracyAt = (r: Run, eps: number) =>
  r.certs.filter((c, k) => correct(r, k) && (c.certifiedAtTarget ?? c.radius >= eps)).length / COUNT;
const row = (name: string, r: Run, ref: Run, accuracy: string) =>
  `| ${name} | ${Math.round(r.draws / COUNT).toLocaleString("en-US")} | ${(ref.draws / r.draws).toFixed(2)}x | ${(r.seconds / COUNT).toFixed(3)} s | ${accuracy} |`;

// One warm-up certificate so session start-up is not charged to the first run.
await certifyInput(certifier, dataset.image(1), { ...base, seed: 1 });
const dualFixed = await run({});
const dualSeq = await run({ sampling: "sequential" });
const globalFixed = await run({ mode: "global", sigma: SIGMA });
const acc = (r: Run) => [0, 0.25, 0.5, 1.0].map((e) => accuracyAt(r, e).toFixed(2)).join(" / ");
console.log(`${COUNT} test images (every ${SKIP}th), n0 = 100, n = ${N}, alpha = 0.001, CPU\n`);
console.log(
  "| run | draws per image | fewer draws than dual fixed | time per image | certified accuracy at 0 / 0.25 / 0.5 / 1.0 |",
);
console.log("| --- | ---: | ---: | ---: | --- |");
console.log(row("dual, fixed n", dualFixed, dualFixed, acc(dualFixed)));
console.log(row("dual, sequential estimator", dualSeq, dualFixed, acc(dualSeq)));
console.log(row(`global sigma = ${SIGMA}, fixed n`, globalFixed, dualFixed, acc(globalFixed)));
const same = dualSeq.certs.filter((c, k) => c.radius === dualFixed.certs[k]?.radius).length;
console.log(`\nsequential estimator: ${same} of ${COUNT} radii identical to fixed n`);
const routed = new Map<number, { images: number; draws: number }>();
for (const c of dualSeq.certs) {
  const e = c.stages.estimator;
  const sigma = e?.option?.sigma ?? -1;
  const r = routed.get(sigma) ?? { images: 0, draws: 0 };
  routed.set(sigma, { images: r.images + 1, draws: r.draws + (e?.draws ?? 0) });
}
for (const [sigma, r] of [...routed].sort((a, b) => a[0] - b[0])) {
  console.log(
    `routed to sigma ${sigma}: ${r.images} images, estimator draws ${Math.round(r.draws / r.images)}`,
  );
}

console.log(
  "\n| target radius | draws per image, fixed n | draws per image, target mode | fewer draws | time per image, fixed / target | certified accuracy at eps, fixed / target |",
);
console.log("| ---: | ---: | ---: | ---: | ---: | ---: |");
for (const eps of TARGETS) {
  const t = await run({ targetRadius: eps });
  console.log(
    `| ${eps} | ${Math.round(dualFixed.draws / COUNT).toLocaleString("en-US")} | ${Math.round(t.draws / COUNT).toLocaleString("en-US")} | ${(dualFixed.draws / t.draws).toFixed(1)}x | ${(dualFixed.seconds / COUNT).toFixed(3)} / ${(t.seconds / COUNT).toFixed(3)} s | ${accuracyAt(dualFixed, eps).toFixed(2)} / ${accuracyAt(t, eps).toFixed(2)} |`,
  );
}
await certifier.close();
