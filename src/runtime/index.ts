export * from "./certifier.js";
export * from "./errors.js";
export * from "./model-store.js";
export * from "./onnx-classifier.js";
export * from "./providers.js";
export * from "./session.js";
