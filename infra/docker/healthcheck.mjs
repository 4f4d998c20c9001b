// Container health check. `dualrs serve` answers /healthz; other commands (`worker`) serve no
// HTTP, so for them a running container is a healthy one. Exits 0 when healthy, 1 otherwise.
import { readFileSync } from "node:fs";

/** The container's command, from PID 1 (tini -- dualrs-entrypoint <command> ...). */
function command() {
  try {
    const args = readFileSync("/proc/1/cmdline", "utf8").split("\0");
    const at = args.indexOf("dualrs-entrypoint");
    return at < 0 ? "serve" : (args[at + 1] ?? "serve");
  } catch {
    return "serve";
  }
}

if (command() !== "serve") process.exit(0);
const port = process.env.PORT || "8080";
try {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}
