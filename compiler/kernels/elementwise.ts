// Elementwise layers the fusion passes left standing: a BN with no conv before it (per-channel
// scale and shift, folded at load time into weights [scale][shift]), a lone ReLU, and a
// residual add (optionally followed by ReLU). Channels-last, vec4 along C where C allows.
import { binding, entry, grid, makeKernel, type Kernel, type KernelLimits } from "./common.js";

export type ElementwiseOp = { kind: "affine" } | { kind: "relu" } | { kind: "add"; relu: boolean };

export function elementwise(
  op: ElementwiseOp,
  elements: number,
  channels: number,
  limits: KernelLimits,
): Kernel {
  const vec = channels % 4 === 0;
  const C = vec ? channels / 4 : channels;
  const total = vec ? elements / 4 : elements;
  const g = grid(total, limits);
  const t = vec ? "vec4<f32>" : "f32";
  const zero = vec ? "vec4<f32>(0.0)" : "0.0";
  const name = `${op.kind}${op.kind === "add" && op.relu ? "-relu" : ""}-${vec ? "vec4" : "scalar"}`;
  let body: string;
  let bindings: Kernel["bindings"];
  let decls: string;
  if (op.kind === "affine") {
    bindings = ["input", "weights", "output"];
    decls = [binding(0, "inp", t), binding(1, "wts", t), binding(2, "out", t, true)].join("\n");
    body = `let c = idx % ${C}u; out[idx] = inp[idx] * wts[c] + wts[${C}u + c];`;
  } else if (op.kind === "relu") {
    bindings = ["input", "output"];
    decls = [binding(0, "inp", t), binding(1, "out", t, true)].join("\n");
    body = `out[idx] = max(inp[idx], ${zero});`;
  } else {
    bindings = ["input", "residual", "output"];
    decls = [binding(0, "inp", t), binding(1, "res", t), binding(2, "out", t, true)].join("\n");
    body = op.relu
      ? `out[idx] = max(inp[idx] + res[idx], ${zero});`
      : `out[idx] = inp[idx] + res[idx];`;
  }
  const wgsl = `// ${name}: ${elements} elements, C=${channels}, channels-last.
${decls}
${entry(g.nx, total)}
  ${body}
}
`;
  const reads = op.kind === "add" ? 2 : 1;
  return makeKernel({
    family: "elementwise",
    choice: { family: "elementwise" },
    name,
    shape: `${elements}x${channels}`,
    wgsl,
    grid: g,
    bindings,
    ...(op.kind === "affine" ? { weights: { kind: "affine", channels } as const } : {}),
    flops: elements,
    bytes: 4 * elements * (reads + 1),
  });
}
