// Container health check: the API answers /healthz. Exits 0 when healthy, 1 otherwise.
const port = process.env.PORT || "8080";
const url = process.env.HEALTHCHECK_URL || `http://127.0.0.1:${port}/healthz`;
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(4000) });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}
