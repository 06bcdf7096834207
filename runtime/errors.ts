// Errors the runtime reports to users: bad weights or inputs, missing WebGPU, device trouble.
// Each carries a code of the one catalog (grammar/codes.ts; 4xxx: weights and devices) and a
// message that says what to do.
export { RuntimeCodes } from "../grammar/codes.js";

export class CsncError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "CsncError";
  }
}
