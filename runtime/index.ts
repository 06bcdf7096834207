// The runtime's front door: a compiled plan, weights and a device in; an executor out.
// Node picks its own adapter (adapter-node.ts); browsers and embedders pass a GPUDevice.
export { acquireAdapter, backends, describeAdapter, type Backend } from "./adapter-node.js";
export { requestDevice, kernelLimits } from "./device.js";
export { createExecutor, type Executor, type Outputs } from "./executor.js";
export { CsncError, RuntimeCodes } from "./errors.js";
export { packWeights, randomTensors } from "./weights.js";
export { readSafetensors, writeSafetensors, type Tensor } from "./safetensors.js";
export { namings, type Naming } from "./naming.js";
