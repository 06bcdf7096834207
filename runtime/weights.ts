// Weights at load time: find each layer's tensors (by csnc or VMZ names), check them against
// the plan, and pack them as the layer's kernel declared (kernels/weights.ts folds every BN
// into its conv, in float64). Every missing, extra or mis-shaped tensor is reported, by name and shape.
import type { Plan, WeightSpec } from "../compiler/plan.js";
import { packLayer, type BnTensors, type LayerTensors } from "../compiler/kernels/weights.js";
import { CsncError, RuntimeCodes } from "./errors.js";
import { tensorPrefix, type Naming } from "./naming.js";
import { bytesText } from "./units.js";
import type { Tensor } from "./safetensors.js";

interface Wanted {
  readonly name: string;
  readonly shape: readonly number[];
}

function expectedTensors(w: WeightSpec, prefix: (path: string) => string): Wanted[] {
  const bn = (path: string, c: number): Wanted[] =>
    ["weight", "bias", "running_mean", "running_var"].map((k) => ({
      name: `${prefix(path)}.${k}`,
      shape: [c],
    }));
  const p = w.packing;
  const own = (out: number): Wanted[] =>
    w.bias ? [{ name: `${prefix(w.path)}.bias`, shape: [out] }] : [];
  switch (p.kind) {
    case "conv":
      return [
        { name: `${prefix(w.path)}.weight`, shape: [p.cout, p.cinPerGroup, ...p.kernel] },
        ...own(p.cout),
        ...(w.bn ? bn(w.bn.path, p.cout) : []),
      ];
    case "fc": {
      const features = p.input.reduce((a, b) => a * b, 1);
      return [
        { name: `${prefix(w.path)}.weight`, shape: [p.outFeatures, features] },
        ...own(p.outFeatures),
      ];
    }
    case "affine":
      return bn(w.path, p.channels);
  }
}

/** Every layer path with weights in the plan, for naming schemes that look at neighbours. */
function layerPaths(plan: Plan): Set<string> {
  const paths = new Set<string>();
  for (const d of plan.dispatches) for (const l of d.layers) paths.add(l);
  return paths;
}

/** Checks the tensors against the plan and packs one Float32Array per plan weight entry. */
export function packWeights(
  plan: Plan,
  tensors: ReadonlyMap<string, Tensor>,
  naming: Naming,
  source: string,
): Float32Array[] {
  const paths = layerPaths(plan);
  const problems: string[] = [];
  const unnamed = new Set<string>(); // once a layer, not once for each of its tensors
  const prefix = (path: string) => {
    const p = tensorPrefix(path, naming, paths);
    if (p === undefined && !unnamed.has(path)) {
      unnamed.add(path);
      problems.push(
        `layer ${path} has no place in ${naming}'s naming of this architecture (weights of another network?)`,
      );
    }
    return p ?? path;
  };
  const wanted = plan.weights.map((w) => expectedTensors(w, prefix));
  const used = new Set<string>();
  for (const list of wanted) {
    for (const t of list) {
      used.add(t.name);
      const got = tensors.get(t.name);
      if (!got) problems.push(`missing tensor ${t.name} (expected shape ${t.shape.join("x")})`);
      else if (!got.data)
        problems.push(
          `tensor ${t.name} has dtype ${got.dtype}; expected a float tensor of shape ${t.shape.join("x")}`,
        );
      else if (got.shape.length !== t.shape.length || got.shape.some((d, i) => d !== t.shape[i])) {
        problems.push(
          `tensor ${t.name} has shape ${got.shape.join("x")}; expected ${t.shape.join("x")}`,
        );
      }
    }
  }
  for (const [name, t] of tensors) {
    if (used.has(name) || !t.data) continue; // integer counters such as num_batches_tracked are ignored
    problems.push(`unexpected tensor ${name} (${t.shape.join("x")}): the model has no such layer`);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 12).map((p) => `  ${p}`);
    if (problems.length > 12) shown.push(`  ... and ${problems.length - 12} more`);
    const hint =
      naming === "csnc" && [...tensors.keys()].some((k) => k.startsWith("layer1."))
        ? "\n  hint: these look like VMZ names: add --naming vmz"
        : "";
    throw new CsncError(
      RuntimeCodes.missingTensor,
      `${source}: the weights do not match the model:\n${shown.join("\n")}${hint}`,
    );
  }
  const get = (name: string) => tensors.get(name)!.data!;
  return plan.weights.map((w, i) =>
    packLayer(
      w.packing,
      layerTensors(
        w,
        wanted[i]!.map((t) => t.name),
        get,
      ),
    ),
  );
}

/** The layer's tensors by role, from the names `expectedTensors` listed (in its order). */
function layerTensors(
  w: WeightSpec,
  names: readonly string[],
  get: (name: string) => Float32Array,
): LayerTensors {
  const bn = (at: number, eps: number): BnTensors => {
    const [gamma, beta, mean, variance] = names.slice(at, at + 4).map(get) as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    return { gamma, beta, mean, variance, eps };
  };
  if (w.packing.kind === "affine") return { bn: bn(0, w.bn!.eps) };
  const weight = get(names[0]!);
  const bias = w.bias ? get(names[1]!) : undefined;
  const folded = w.bn ? bn(w.bias ? 2 : 1, w.bn.eps) : undefined;
  return { weight, ...(bias ? { bias } : {}), ...(folded ? { bn: folded } : {}) };
}

/** Random weights csnc makes up: at most 4 GiB of float32 per tensor, 8 GiB in all. */
export const maxRandomTensorElements = 2 ** 30;
export const maxRandomElements = 2 ** 31;

const gib = (elements: number) => bytesText(4 * elements);

/** Refuses, before allocating any, random weights that no typed array or memory could hold. */
function checkRandomSizes(plan: Plan, paths: ReadonlySet<string>): void {
  let total = 0;
  for (const w of plan.weights) {
    for (const t of expectedTensors(w, (p) => tensorPrefix(p, "csnc", paths)!)) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      total += n;
      if (n > maxRandomTensorElements)
        throw new CsncError(
          RuntimeCodes.tooLarge,
          `layer ${w.path}: random tensor ${t.name} of shape ${t.shape.join("x")} would take ${gib(n)}; csnc makes up at most ${gib(maxRandomTensorElements)} per tensor`,
        );
    }
  }
  if (total > maxRandomElements)
    throw new CsncError(
      RuntimeCodes.tooLarge,
      `random weights for ${plan.model} would take ${gib(total)}; csnc makes up at most ${gib(maxRandomElements)}`,
    );
}

/** He-normal random weights under csnc names, for running a model without a checkpoint. */
export function randomTensors(plan: Plan, seed = 1): Map<string, Tensor> {
  let state = seed >>> 0 || 1;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const tensors = new Map<string, Tensor>();
  const paths = layerPaths(plan);
  checkRandomSizes(plan, paths);
  for (const w of plan.weights) {
    for (const t of expectedTensors(w, (p) => tensorPrefix(p, "csnc", paths)!)) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const fanIn = t.shape.length > 1 ? n / t.shape[0]! : 1;
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        if (t.name.endsWith("running_var")) data[i] = 0.5 + uniform();
        else if (t.name.endsWith(".weight") && t.shape.length === 1)
          data[i] = 0.5 + 0.5 * uniform();
        else if (t.shape.length === 1) data[i] = 0.1 * normal();
        else data[i] = normal() * Math.sqrt(2 / fanIn);
      }
      tensors.set(t.name, { dtype: "F32", shape: t.shape, data });
    }
  }
  return tensors;
}
