export * from "./certifier.js";
export * from "./errors.js";
export * from "./model-store.js";
export * from "./onnx-classifier.js";
export * from "./open-model-store.js";
export * from "./providers.js";
export * from "./s3-model-store.js";
export * from "./session.js";
