// Shared with the benchmarks, which may not import from test/.
export * from "../../bench/fixtures/zoo.js";
