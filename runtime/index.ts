// csnc as a library in Node (the package's "."): everything of the portable API
// (index-browser.ts), with files read from disk and sessions on an adapter of their own.
import * as path from "node:path";
import { checkFile, type CheckOptions, type CheckResult } from "../compiler/index.js";
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

/** Checks the .csn file `file` and its imports, as `csnc check`; never throws for bad input. */
export function check(file: string, options: CheckOptions = {}): CheckResult {
  const abs = path.resolve(file);
  return checkFile(abs, projectRoot(abs), nodeHost, options);
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
