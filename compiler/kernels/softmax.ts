// Softmax over the classes of each sample: one invocation per sample (classes are few).
import { binding, entry, grid, makeKernel, type Kernel, type KernelLimits } from "./common.js";

export function softmax(n: number, classes: number, limits: KernelLimits): Kernel {
  const g = grid(n, limits);
  const wgsl = `// softmax: ${n} rows of ${classes}, max-subtracted for stability.
${binding(0, "inp", "f32")}
${binding(1, "out", "f32", true)}
${entry(g.nx, n)}
  let base = idx * ${classes}u;
  var m = inp[base];
  for (var j = 1u; j < ${classes}u; j++) { m = max(m, inp[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < ${classes}u; j++) { let e = exp(inp[base + j] - m); out[base + j] = e; s += e; }
  let inv = 1.0 / s;
  for (var j = 0u; j < ${classes}u; j++) { out[base + j] = out[base + j] * inv; }
}
`;
  return makeKernel({
    family: "softmax",
    choice: { family: "softmax" },
    name: "softmax",
    shape: `${n}x${classes}`,
    wgsl,
    grid: g,
    bindings: ["input", "output"],
    flops: 3 * n * classes,
    bytes: 12 * n * classes,
  });
}
