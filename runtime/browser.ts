// WebGPU in a browser: the adapter navigator.gpu offers, and a device for running plans.
import { describeAdapter, requestDevice } from "./device.js";
import { CsncError, RuntimeCodes } from "./errors.js";

export interface BrowserDevice {
  readonly device: GPUDevice;
  /** vendor / architecture / device / description, for humans. */
  readonly description: string;
}

export async function requestBrowserDevice(): Promise<BrowserDevice> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu)
    throw new CsncError(RuntimeCodes.noAdapter, "this browser has no WebGPU (navigator.gpu)");
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new CsncError(RuntimeCodes.noAdapter, "navigator.gpu offered no adapter");
  return { device: await requestDevice(adapter), description: describeAdapter(adapter) };
}
