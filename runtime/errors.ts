// Errors the runtime reports to users: bad weights or inputs, missing WebGPU, device trouble.
// Each carries a code of the one catalog (grammar/codes.ts; 4xxx: weights and devices) and a
// message that says what to do.
import { RuntimeCodes } from "../grammar/codes.js";

export { RuntimeCodes };

export class CsncError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "CsncError";
  }
}

/** A weights file that cannot be read as what it claims to be. */
export const badFile = (message: string) => new CsncError(RuntimeCodes.badFile, message);
