export * from "./dispatcher.js";
export * from "./payload.js";
export * from "./signature.js";
export * from "./url-guard.js";
