// Elementwise training kernels: ReLU and residual add (when not fused into a BN), dropout,
// a gradient passed on unchanged (a residual's shortcut), and the SGD update.
import type { KernelLimits } from "../../kernels/common.js";
import type { TrainKernel } from "../program.js";
import {
  elementwise,
  f32,
  storeBinds,
  storeGrad,
  storeTag,
  type GradStore,
  nonFinite,
  stepFinite,
} from "./wgsl.js";

export function reluForward(elements: number, limits: KernelLimits): TrainKernel {
  return elementwise(
    { name: "relu", shape: `${elements}`, binds: [{ name: "x" }, { name: "y", write: true }] },
    elements,
    "y[idx] = max(x[idx], 0.0);",
    limits,
  );
}

export function addForward(elements: number, relu: boolean, limits: KernelLimits): TrainKernel {
  return elementwise(
    {
      name: "add",
      shape: `${elements}${relu ? " relu" : ""}`,
      binds: [{ name: "a" }, { name: "b" }, { name: "y", write: true }],
    },
    elements,
    relu ? "y[idx] = max(a[idx] + b[idx], 0.0);" : "y[idx] = a[idx] + b[idx];",
    limits,
  );
}

/** The gradient of a value that reaches another unchanged (an identity shortcut, a ReLU). */
export function passGradient(
  elements: number,
  store: GradStore,
  limits: KernelLimits,
): TrainKernel {
  return elementwise(
    {
      name: "pass-gradient",
      shape: `${elements} ${storeTag(store)}`,
      binds: [{ name: "dy" }, ...storeBinds(store)],
    },
    elements,
    storeGrad(store, "idx", "dy[idx]"),
    limits,
  );
}

// A counter-based hash of (seed, step, element, layer): the backward pass recomputes the forward
// pass's dropout mask instead of saving it.
const keepWgsl = (p: number, salt: number) => `fn keep(i: u32) -> bool {
  var h = (i * 0x9e3779b9u) ^ (hp.seed * 0x85ebca6bu) ^ (hp.step * 0xc2b2ae35u) ^ ${salt >>> 0}u;
  h = (h ^ (h >> 16u)) * 0x7feb352du;
  h = (h ^ (h >> 15u)) * 0x846ca68bu;
  h = h ^ (h >> 16u);
  return h >= ${Math.min(4294967295, Math.round(p * 4294967296))}u;
}`;

/** Inverted dropout in training mode (kept values scaled by 1 / (1 - p)), the identity otherwise. */
/** `layer` salts the mask: two dropout layers of one size drop different elements. */
export function dropoutForward(
  elements: number,
  p: number,
  layer: number,
  limits: KernelLimits,
): TrainKernel {
  return elementwise(
    {
      name: "dropout",
      shape: `${elements} p${p}`,
      binds: [{ name: "x" }, { name: "y", write: true }],
      hyper: true,
      prelude: keepWgsl(p, Math.imul(layer + 1, 0x27d4eb2d)),
    },
    elements,
    `if (hp.train == 0u) { y[idx] = x[idx]; return; }
  y[idx] = select(0.0, x[idx] * ${f32(1 / (1 - p))}, keep(idx));`,
    limits,
  );
}

export function dropoutBackward(
  elements: number,
  p: number,
  layer: number,
  store: GradStore,
  limits: KernelLimits,
): TrainKernel {
  return elementwise(
    {
      name: "dropout-backward",
      shape: `${elements} p${p} ${storeTag(store)}`,
      binds: [{ name: "dy" }, ...storeBinds(store)],
      hyper: true,
      prelude: keepWgsl(p, Math.imul(layer + 1, 0x27d4eb2d)),
    },
    elements,
    storeGrad(store, "idx", `select(0.0, dy[idx] * ${f32(1 / (1 - p))}, keep(idx))`),
    limits,
  );
}

/**
 * torch.optim.SGD (dampening 0, no Nesterov): buf = momentum * buf + (g + wd * w);
 * w -= lr * buf. A zero buffer makes the first step PyTorch's clone of the gradient. A step
 * whose loss is not finite leaves every parameter as it was.
 */
export function sgdUpdate(elements: number, limits: KernelLimits): TrainKernel {
  return elementwise(
    {
      name: "sgd",
      shape: `${elements}`,
      binds: [
        { name: "w", write: true },
        { name: "g" },
        { name: "m", write: true },
        { name: "loss" },
      ],
      hyper: true,
    },
    elements,
    `if (!${stepFinite}) { return; }
  let d = g[idx] + hp.weightDecay * w[idx];
  let buf = hp.momentum * m[idx] + d;
  m[idx] = buf;
  w[idx] = w[idx] - hp.lr * buf;`,
    limits,
  );
}

/** Sets the step's non-finite flag (loss[2]) if any value of `g` is NaN or infinite. */
export function finiteCheck(elements: number, limits: KernelLimits): TrainKernel {
  return elementwise(
    {
      name: "finite-check",
      shape: `${elements}`,
      binds: [{ name: "g" }, { name: "loss", type: "atomic<u32>", write: true }],
    },
    elements,
    `if (${nonFinite("g[idx]")}) { atomicOr(&loss[2], 1u); }`,
    limits,
  );
}
