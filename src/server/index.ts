export { type AppOptions, createApp } from "./app.js";
export { ConfigEnv, ConfigError, isLoopback, loadConfig, type ServerConfig } from "./config.js";
export type * from "./contract/jobs.js";
export { httpRequests, jobLatency, registry, samplesTotal } from "./metrics/registry.js";
export { type ApiKey, hashApiKey, parseApiKey } from "./middleware/auth.js";
export type { Problem } from "./middleware/problem.js";
export { createApi, openApiDocument } from "./openapi.js";
export { openQueue } from "./queue.js";
export { type RunningServer, type StartOptions, startServer } from "./server.js";
