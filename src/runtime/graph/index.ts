/** ONNX graph building: chains composed into one model, with or without in-graph Gaussian noise. */
export { type Feed, type NoisyInput, noisyFeeds } from "./feeds.js";
export {
  buildNoiseModel,
  buildNoisyClassifier,
  type ComposeOptions,
  composeClassifier,
  GRAPH_INPUTS,
  GRAPH_OUTPUTS,
  type NoisyClassifierOptions,
} from "./models.js";
export { GraphError } from "./proto.js";
