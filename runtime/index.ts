// csnc as a library in Node (the package's "."): everything of the portable API
// (index-browser.ts), with files read from disk and sessions on an adapter of their own.
import * as path from "node:path";
import { checkFile, type CheckOptions, type CheckResult } from "../compiler/index.js";
import { valueOf, type ParamInput, type Value } from "../compiler/values.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { createNodeSession, type NodeSession, type NodeSessionOptions } from "./node.js";
import { createSession as createDeviceSession, type Session } from "./session.js";
import { CsncError, RuntimeCodes } from "./errors.js";

export * from "./index-browser.js";
export type { AcquiredAdapter, WebGpuPackage } from "./adapter-node.js";
export type { Backend } from "./backends.js";
export type { NodeSession, NodeSessionOptions } from "./node.js";
export { acquireAdapter } from "./adapter-node.js";
export { backends } from "./backends.js";
export { requestDevice } from "./device.js";

/** check()'s options: `set` as a Map or a plain object of parameter values (`{ width: 8 }`). */
export type { ParamInput } from "../compiler/values.js";
export type LibraryCheckOptions = Omit<CheckOptions, "set"> & {
  readonly set?: ReadonlyMap<string, ParamInput> | Readonly<Record<string, ParamInput>>;
};

/**
 * Checks the .csn file `file` and its imports, as `csnc check`: a bad file is diagnostics,
 * never a throw; a malformed option is a CsncError.
 */
export function check(file: string, options: LibraryCheckOptions = {}): CheckResult {
  const abs = path.resolve(file);
  return checkFile(abs, projectRoot(abs), nodeHost, { ...options, set: paramValues(options.set) });
}

function paramValues(set: LibraryCheckOptions["set"]): Map<string, Value> {
  const out = new Map<string, Value>();
  if (set === undefined) return out;
  if (typeof set !== "object" || set === null)
    throw new CsncError(
      RuntimeCodes.badInput,
      `check: set must be a Map or an object, got ${String(set)}`,
    );
  const entries = set instanceof Map ? [...set] : Object.entries(set);
  for (const [name, x] of entries) {
    const v = valueOf(x);
    if (!v)
      throw new CsncError(
        RuntimeCodes.badInput,
        `check: set.${String(name)} is not a parameter value (a number, boolean, string, array of whole numbers or { type, value }), got ${typeof x === "object" && x !== null ? "an object of another form" : String(x)}`,
      );
    out.set(String(name), v);
  }
  return out;
}

/**
 * A session: on `device` when given, else on an adapter of its own (`backend`, default auto:
 * a GPU, then llvmpipe, then SwiftShader), destroyed with the session.
 */
export function createSession(
  options: NodeSessionOptions & { readonly device: GPUDevice },
): Promise<Session>;
export function createSession(options: NodeSessionOptions): Promise<NodeSession>;
export function createSession(
  options: NodeSessionOptions & { readonly device?: GPUDevice },
): Promise<Session> {
  const { device } = options;
  // The file's entry is chosen by the adapter csnc acquires (and its backend): a caller's own
  // device should pass `tuning: { choices }` from that file's entry instead.
  if (device && options.tuningFile)
    return Promise.reject(
      new CsncError(
        RuntimeCodes.badInput,
        "tuningFile applies to the adapter csnc acquires; with your own device, pass tuning: { ...tuningFor(device.adapterInfo), choices } from the file's entry for it",
      ),
    );
  return device ? createDeviceSession({ ...options, device }) : createNodeSession(options);
}
