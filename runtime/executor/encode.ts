// Recording a plan's work: its dispatches, and the staging copies some of them need first.
import type { Plan } from "../../compiler/plan.js";
import type { Resources } from "./resources.js";

export interface PlanEncoder {
  /** Dispatch i into an open compute pass. */
  dispatch(pass: GPUComputePassEncoder, i: number): void;
  /** Dispatch i's staging copies, if it has any (outside passes); whether it had. */
  stage(encoder: GPUCommandEncoder, i: number): boolean;
  /** Every dispatch in order: one pass, split only where a staging copy must come between. */
  encodeAll(encoder: GPUCommandEncoder): void;
}

export function planEncoder(
  plan: Plan,
  r: Resources,
  pipelines: readonly GPUComputePipeline[],
  bindGroups: readonly GPUBindGroup[],
): PlanEncoder {
  const bufferOf = new Map(plan.tensors.map((t) => [t.id, r.buffers[t.buffer]!]));
  const dispatch = (pass: GPUComputePassEncoder, i: number) => {
    const d = plan.dispatches[i]!;
    pass.setPipeline(pipelines[d.shader]!);
    pass.setBindGroup(0, bindGroups[i]!);
    pass.dispatchWorkgroups(...(d.workgroups as [number, number, number]));
  };
  const stage = (encoder: GPUCommandEncoder, i: number) => {
    const s = plan.dispatches[i]!.stage;
    if (!s) return false;
    const buffer = bufferOf.get(s.tensor)!;
    for (const c of s.copies)
      encoder.copyBufferToTexture(
        { buffer, offset: c.offset, bytesPerRow: c.bytesPerRow, rowsPerImage: c.rows },
        { texture: r.textures[s.texture]!, origin: c.origin },
        [c.width, c.rows],
      );
    return true;
  };
  return {
    dispatch,
    stage,
    encodeAll(encoder) {
      let pass: GPUComputePassEncoder | undefined;
      for (let i = 0; i < plan.dispatches.length; i++) {
        if (plan.dispatches[i]!.stage) {
          pass?.end();
          pass = undefined;
          stage(encoder, i);
        }
        pass ??= encoder.beginComputePass();
        dispatch(pass, i);
      }
      pass?.end();
    },
  };
}
