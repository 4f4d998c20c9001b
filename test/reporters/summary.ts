import type { Reporter, TestModule } from "vitest/node";

/** Ends the run with one plain line, "tests: N passed, N failed, N skipped", that any CI can read. */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0, pending: 0 };
    for (const m of modules) for (const t of m.children.allTests()) counts[t.result().state]++;
    const failedModules = modules.filter((m) => m.state() === "failed" && !m.children.size).length;
    console.log(
      `tests: ${counts.passed} passed, ${counts.failed + failedModules} failed, ${counts.skipped} skipped`,
    );
  }
}
