export * from "./decode.js";
export * from "./decoder.js";
export * from "./errors.js";
export * from "./header.js";
export * from "./to-input.js";
