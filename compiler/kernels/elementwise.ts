// Elementwise layers the fusion passes left standing: a BN with no conv before it (per-channel
// scale and shift, folded at load time into weights [scale][shift]), a lone ReLU, and a
// residual add (optionally followed by ReLU). Channels-last, vec4 along C where C allows.
import { entry, grid, makeKernel, type Kernel, type KernelLimits } from "./common.js";
import {
  arithOf,
  bufferArray,
  f32Io,
  formatSuffix,
  storedBytes,
  type BufferArray,
  type IoFormats,
} from "./format.js";

export type ElementwiseOp = { kind: "affine" } | { kind: "relu" } | { kind: "add"; relu: boolean };

export function elementwise(
  op: ElementwiseOp,
  elements: number,
  channels: number,
  limits: KernelLimits,
  formats: IoFormats = f32Io,
): Kernel {
  const vec = channels % 4 === 0;
  const C = vec ? channels / 4 : channels;
  const total = vec ? elements / 4 : elements;
  const g = grid(total, limits);
  const zero = vec ? "vec4<f32>(0.0)" : "0.0";
  const name = `${op.kind}${op.kind === "add" && op.relu ? "-relu" : ""}-${vec ? "vec4" : "scalar"}${formatSuffix(formats)}`;
  const lanes = vec ? 4 : 1;
  const [inp, res, wts, out] = [
    formats.input,
    formats.residual,
    formats.weights,
    formats.output,
  ].map((f) => bufferArray(f, lanes, arithOf(formats))) as [
    BufferArray,
    BufferArray,
    BufferArray,
    BufferArray,
  ];
  const x = inp.load("inp", "idx");
  const r = res.load("res", "idx");
  let body: string;
  let bindings: Kernel["bindings"];
  let decls: string;
  if (op.kind === "affine") {
    bindings = ["input", "weights", "output"];
    decls = [
      inp.declaration(0, "inp"),
      wts.declaration(1, "wts"),
      out.declaration(2, "out", true),
    ].join("\n");
    body = `let c = idx % ${C}u; ${out.store("out", "idx", `${x} * ${wts.load("wts", "c")} + ${wts.load("wts", `${C}u + c`)}`)}`;
  } else if (op.kind === "relu") {
    bindings = ["input", "output"];
    decls = [inp.declaration(0, "inp"), out.declaration(1, "out", true)].join("\n");
    body = out.store("out", "idx", `max(${x}, ${zero})`);
  } else {
    bindings = ["input", "residual", "output"];
    decls = [
      inp.declaration(0, "inp"),
      res.declaration(1, "res"),
      out.declaration(2, "out", true),
    ].join("\n");
    body = out.store("out", "idx", op.relu ? `max(${x} + ${r}, ${zero})` : `${x} + ${r}`);
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
    shape: `${elements}x${channels}${formatSuffix(formats)}`,
    wgsl,
    grid: g,
    bindings,
    ...(op.kind === "affine" ? { weights: { kind: "affine", channels } as const } : {}),
    flops: elements,
    bytes:
      storedBytes(elements, formats.input) +
      (reads > 1 ? storedBytes(elements, formats.residual) : 0) +
      storedBytes(elements, formats.output),
  });
}
