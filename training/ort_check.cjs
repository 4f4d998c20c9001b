// Parity check used by training/export.py: runs one ONNX model in onnxruntime-node on the inputs
// of a JSON case file and prints the largest absolute difference from the expected torch output.
const fs = require("node:fs");
const ort = require("onnxruntime-node");

async function main() {
  const c = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const session = await ort.InferenceSession.create(c.model);
  const feeds = {};
  for (const [name, t] of Object.entries(c.inputs)) {
    feeds[name] = new ort.Tensor("float32", Float32Array.from(t.data), t.dims);
  }
  const out = await session.run(feeds);
  const got = out[session.outputNames[0]].data;
  if (got.length !== c.expected.length) throw new Error(`length ${got.length} != ${c.expected.length}`);
  let max = 0;
  for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i] - c.expected[i]));
  process.stdout.write(
    JSON.stringify({ maxAbsDiff: max, inputs: session.inputNames, outputs: session.outputNames }),
  );
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
