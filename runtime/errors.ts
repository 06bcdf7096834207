// Errors the runtime reports to users: bad weights or inputs, missing WebGPU, device trouble.
// Each carries a catalog code (4xxx: weights and devices) and a message that says what to do.

export const RuntimeCodes = {
  badFile: 4001,
  missingTensor: 4002,
  unexpectedTensor: 4003,
  badTensorShape: 4004,
  badInput: 4005,
  noAdapter: 4101,
  deviceLost: 4102,
  outOfMemory: 4103,
  gpuError: 4104,
  tooLarge: 4105,
} as const;

export class CsncError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "CsncError";
  }
}
