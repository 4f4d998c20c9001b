// Shared with the benchmarks, which may not import from test/.
export * from "../../bench/fixtures/onnx-builder.js";
