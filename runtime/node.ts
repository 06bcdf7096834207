// A session in Node on an adapter of its own: the CLI's and the Node API's way
// to run a model (generated modules acquire their adapter with adapter-node.ts themselves).
import { PlanError, type Plan } from "../compiler/plan.js";
import {
  acquireAdapter,
  type AcquiredAdapter,
  type Backend,
  type WebGpuPackage,
} from "./adapter-node.js";
import { requestDevice } from "./device.js";
import { tuningFor } from "../compiler/kernels/tuning.js";
import { choicesFor, tunedAdapter, type TuningFile } from "./tune/tuning-file.js";
import { CsncError, RuntimeCodes } from "./errors.js";
import {
  createSession,
  planFor,
  type ModelSource,
  type Session,
  type SessionWeights,
} from "./session.js";

export type NodeSessionOptions = ModelSource & {
  readonly weights: SessionWeights;
  /**
   * Measured kernel choices (csnc tune): the entry for the adapter acquired, if the file has
   * one, over the adapter class's defaults. Only for a graph (a plan's choices are made).
   */
  readonly tuningFile?: {
    readonly file: TuningFile;
    readonly source: string;
    /** Named by the user: its lack of an entry for the adapter is worth a note. */
    readonly explicit?: boolean;
  };
  /** Which adapter, as `csnc run --backend`; default auto. */
  readonly backend?: Backend;
  readonly webgpu?: WebGpuPackage;
};

export interface NodeSession extends Session {
  readonly adapter: AcquiredAdapter;
  readonly device: GPUDevice;
  /** Said about the choice of adapter, e.g. that the model ran on SwiftShader instead. */
  readonly notes: readonly string[];
}

/** `o` with the tuning file's choices for `adapter`, if the file has them, and the file's name. */
function tuned(
  o: NodeSessionOptions,
  adapter: AcquiredAdapter,
): { source: ModelSource; from?: string; missing?: string } {
  if (o.plan || !o.tuningFile) return { source: o };
  const { file, source, explicit } = o.tuningFile;
  const choices = choicesFor(file, tunedAdapter(adapter.adapter.info, adapter.backend));
  if (!choices)
    return {
      source: o,
      ...(explicit
        ? {
            missing: `${source} has no tuning for this adapter (${adapter.description}); default kernel choices`,
          }
        : {}),
    };
  const tuning = { ...(o.tuning ?? tuningFor(adapter.adapter.info)), choices };
  return { source: { ...o, tuning }, from: source };
}

/**
 * A session on an adapter of its own (destroyed with it). With `backend` auto and a graph too
 * large for llvmpipe's 128 MiB buffers, the model goes to SwiftShader (1 GiB) with a note.
 * A plan that fits no device is a CsncError (too large) with the planner's message.
 */
export async function createNodeSession(o: NodeSessionOptions): Promise<NodeSession> {
  const backend = o.backend ?? "auto";
  let adapter = await acquireAdapter(backend, { webgpu: o.webgpu });
  let device = await requestDevice(adapter.adapter);
  const notes: string[] = [];
  let measured: ReturnType<typeof tuned> | undefined;
  try {
    const start = performance.now();
    let plan: Plan | undefined;
    try {
      measured = tuned(o, adapter);
      plan = planFor(measured.source, device);
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      // auto takes llvmpipe first for speed, but its buffers are limited to 128 MiB;
      // SwiftShader, next in line, allows 1 GiB.
      const next =
        backend === "auto" && adapter.backend === "opengles"
          ? await acquireAdapter("swiftshader", { webgpu: o.webgpu }).catch(() => undefined)
          : undefined;
      const nextDevice = next && (await requestDevice(next.adapter));
      let alsoTooLarge: string | undefined;
      try {
        measured = tuned(o, next!);
        plan = nextDevice && planFor(measured.source, nextDevice);
      } catch (again) {
        if (!(again instanceof PlanError)) {
          nextDevice?.destroy();
          throw again;
        }
        alsoTooLarge = again.message;
      }
      if (!plan) {
        nextDevice?.destroy();
        // Both tried: say so, or the user would try SwiftShader for nothing.
        throw new CsncError(
          RuntimeCodes.tooLarge,
          alsoTooLarge
            ? `too large for llvmpipe and for SwiftShader, the next adapter tried; on SwiftShader: ${alsoTooLarge}`
            : e.message,
        );
      }
      notes.push(
        `the model is too large for llvmpipe (${e.message.replace(/[:;] use a smaller.*$/s, "")}); running on SwiftShader, which is slower`,
      );
      device.destroy();
      [adapter, device] = [next!, nextDevice!];
    }
    const compileMs = o.plan ? 0 : performance.now() - start;
    if (measured?.missing) notes.push(measured.missing);
    if (measured?.from)
      notes.push(
        `${plan.dispatches.filter((d) => d.tuned).length} of ${plan.dispatches.length} dispatches take variants measured on this adapter (csnc tune), from ${measured.from}`,
      );
    const session = await createSession({ plan, weights: o.weights, device });
    return {
      ...session,
      setup: { ...session.setup, compileMs },
      adapter,
      device,
      notes,
      destroy() {
        session.destroy();
        device.destroy();
      },
    };
  } catch (e) {
    device.destroy();
    throw e;
  }
}
