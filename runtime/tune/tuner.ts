// `csnc tune`: for every distinct step of a model (by shape and fused epilogue, stepKey), time
// each candidate variant on the device and keep the fastest. Each candidate's output is first
// checked against the default variant's on the same data; one that differs is never chosen.
// Within the budget, steps are taken by their share of the model's time: the default of every
// step first, then the alternatives of the slowest steps.
import { candidates, type Candidate } from "../../compiler/kernels/candidates.js";
import type { KernelChoice } from "../../compiler/kernels/choice.js";
import type { KernelLimits } from "../../compiler/kernels/common.js";
import { clipLayout, stepKey } from "../../compiler/kernels/select.js";
import type { Tuning } from "../../compiler/kernels/tuning.js";
import type { InferenceGraph } from "../../compiler/inference.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { bindCandidate, stepData, type Step, type StepData } from "./step-harness.js";
import { timeBound, timingMethod, type TimingMethod } from "./timing.js";

export interface TuneProgress {
  /** Candidates timed (or rejected) so far, of `total`. */
  readonly done: number;
  readonly total: number;
  readonly elapsedMs: number;
  readonly budgetMs: number;
  /** The step being tuned: its first layer's path. */
  readonly step: string;
  /** The last report: tuning is over (every variant timed, or the budget spent). */
  readonly finished?: boolean;
}

export interface StepTuning {
  readonly key: string;
  /** The first layer with this step's shape, and how many steps share it. */
  readonly path: string;
  readonly count: number;
  readonly candidates: number;
  readonly tried: number;
  readonly defaultMs: number;
  readonly best: { readonly choice: KernelChoice; readonly kernel: string; readonly ms: number };
  /** Candidates whose output differed from the default's, or that failed to build. */
  readonly rejected: readonly { readonly kernel: string; readonly reason: string }[];
}

export interface TuneResult {
  readonly method: TimingMethod;
  readonly steps: readonly StepTuning[];
  /** The measured choices that beat the default, by stepKey: a Tuning's `choices`. */
  readonly choices: Readonly<Record<string, KernelChoice>>;
  readonly elapsedMs: number;
  /** Whether the budget ran out before every candidate was timed. */
  readonly truncated: boolean;
}

export interface TuneOptions {
  readonly graph: InferenceGraph;
  readonly device: GPUDevice;
  readonly limits: KernelLimits;
  /** The adapter class's defaults: candidate 0 of every step, and the tile-area bound. */
  readonly tuning: Tuning;
  readonly budgetMs: number;
  /** A CPU adapter (llvmpipe, SwiftShader): alternatives keep the default's storage. */
  readonly cpu: boolean;
  readonly seed?: number;
  readonly onProgress?: (p: TuneProgress) => void;
  /** The candidates of a step (default: candidates.ts's); tests inject wrong ones. */
  readonly candidatesOf?: typeof candidates;
}

/** Relative L2 distance, against the default's output. */
function relL2(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

/**
 * Accumulation order differs between variants (tiles, split K); anything past this is wrong.
 * Halves stored after another order may round to the neighbouring half (2^-11 relative).
 */
const tolerance = (step: Step) => (step.node.formats?.output === "f16" ? 2e-3 : 1e-4);

interface Work {
  readonly step: Step;
  readonly key: string;
  readonly count: number;
  readonly candidates: readonly Candidate[];
  data?: StepData;
  reference?: Float32Array;
  tried: number;
  defaultMs: number;
  /** The longest a candidate of this step took to build, check and time. */
  costMs: number;
  best?: { choice: KernelChoice; kernel: string; ms: number };
  rejected: { kernel: string; reason: string }[];
}

const tileOf = (c: KernelChoice): Record<string, number> =>
  "tile" in c ? (c.tile as unknown as Record<string, number>) : {};

/** How far a tile is from another: the sum of log2 ratios of their sizes. */
function tileDistance(a: KernelChoice, b: KernelChoice): number {
  const ta = tileOf(a);
  const tb = tileOf(b);
  return Object.keys({ ...ta, ...tb }).reduce(
    (d, k) => d + Math.abs(Math.log2((ta[k] ?? 1) / (tb[k] ?? 1))),
    0,
  );
}

const storageOf = (c: KernelChoice) => ("storage" in c ? c.storage : undefined);

/**
 * The default first, then its family's nearest tiles, then other families. On a CPU adapter
 * only variants with the default's storage: on llvmpipe a storage-buffer conv ran about 3x
 * slower than its texture twin and took 2-40 s to compile on first use (a branchy loop per lane).
 */
function ranked(list: readonly Candidate[], cpu: boolean): Candidate[] {
  const [first, ...rest] = list;
  if (!first) return [];
  const kept = rest.filter((c) => !cpu || storageOf(c.choice) === storageOf(first.choice));
  const rank = (c: Candidate) =>
    (c.choice.family === first.choice.family ? 0 : 100) + tileDistance(c.choice, first.choice);
  return [first, ...kept.sort((a, b) => rank(a) - rank(b))];
}

/** The distinct steps that have more than one candidate, with how many steps share each. */
function distinctSteps(o: TuneOptions): Work[] {
  const g = o.graph;
  const clip = clipLayout(g, o.limits, o.tuning);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const work = new Map<string, Work>();
  for (const node of g.nodes) {
    if (node.op.kind === "input") continue;
    const input = byId.get(node.inputs[0]!)!;
    const key = stepKey(node, input);
    const seen = work.get(key);
    if (seen) {
      (seen as { count: number }).count++;
      continue;
    }
    const residual =
      node.op.kind === "conv" && node.op.residual ? byId.get(node.inputs[1]!) : undefined;
    const step: Step = { node, input, clip, ...(residual ? { residual } : {}) };
    const list = ranked(
      (o.candidatesOf ?? candidates)(node, input, o.limits, clip, o.tuning),
      o.cpu,
    );
    work.set(key, {
      step,
      key,
      count: 1,
      candidates: list,
      tried: 0,
      defaultMs: 0,
      costMs: 0,
      rejected: [],
    });
  }
  return [...work.values()].filter((w) => w.candidates.length > 1);
}

/** Builds, checks and times one candidate; its milliseconds, or why it was rejected. */
async function measure(
  o: TuneOptions,
  w: Work,
  c: Candidate,
): Promise<{ ms: number; output: Float32Array } | { reason: string }> {
  const { device } = o;
  let pipeline: GPUComputePipeline;
  try {
    pipeline = await device.createComputePipelineAsync({
      layout: "auto",
      compute: { module: device.createShaderModule({ code: c.kernel.wgsl }), entryPoint: "main" },
    });
  } catch (e) {
    return { reason: `WebGPU could not compile it: ${(e as Error).message}` };
  }
  let bound;
  try {
    bound = await bindCandidate(device, w.step, w.data!, c, pipeline);
  } catch (e) {
    if (e instanceof CsncError && e.code === RuntimeCodes.deviceLost) throw e;
    return { reason: (e as Error).message };
  }
  try {
    const first = await timeBound(device, bound, 1, 0); // first use: the driver finishes compiling
    void first;
    const output = await bound.read();
    if (w.reference) {
      const error = relL2(output, w.reference);
      if (!(error <= tolerance(w.step)))
        return {
          reason: `its output differs from the default's (relative L2 ${error.toExponential(2)})`,
        };
    }
    return { ms: await timeBound(device, bound), output };
  } finally {
    bound.destroy();
  }
}

/** `tuneSteps`, with a lost device (a driver reset, a destroyed device) said as such. */
export async function tune(o: TuneOptions): Promise<TuneResult> {
  let lost: string | undefined;
  void o.device.lost.then((info) => (lost = info.message || info.reason || "lost"));
  try {
    return await tuneSteps(o);
  } catch (e) {
    // The loss surfaces as whatever call failed first (a map's AbortError, a validation error).
    await new Promise((r) => setTimeout(r, 0));
    if (lost !== undefined && !(e instanceof CsncError && e.code === RuntimeCodes.deviceLost))
      throw new CsncError(RuntimeCodes.deviceLost, `the GPU device was lost while tuning: ${lost}`);
    throw e;
  }
}

async function tuneSteps(o: TuneOptions): Promise<TuneResult> {
  const start = performance.now();
  const elapsed = () => performance.now() - start;
  const work = distinctSteps(o);
  const total = work.reduce((a, w) => a + w.candidates.length, 0);
  let done = 0;
  const progress = (w: Work) =>
    o.onProgress?.({
      done,
      total,
      elapsedMs: elapsed(),
      budgetMs: o.budgetMs,
      step: w.step.node.path,
    });

  // Every step's default first: the reference output and the time to beat. Steps left when the
  // budget runs out keep their default untimed.
  let truncated = false;
  const measured: Work[] = [];
  let slowest = 0;
  for (const [i, w] of work.entries()) {
    if (elapsed() + 1.5 * slowest > o.budgetMs) {
      truncated = true;
      break;
    }
    measured.push(w);
    w.data = stepData(w.step, (o.seed ?? 1) * 1000 + i);
    progress(w);
    const began = elapsed();
    const r = await measure(o, w, w.candidates[0]!);
    w.costMs = elapsed() - began;
    slowest = Math.max(slowest, w.costMs);
    done++;
    w.tried = 1;
    if ("reason" in r)
      throw new Error(`csnc bug: the default kernel of ${w.step.node.path} fails: ${r.reason}`);
    w.reference = r.output;
    w.defaultMs = r.ms;
    w.best = { choice: w.candidates[0]!.choice, kernel: w.candidates[0]!.kernel.name, ms: r.ms };
  }

  // Then alternatives, slowest share of the model first, each step within its share of what is left.
  const order = [...measured].sort((a, b) => b.defaultMs * b.count - a.defaultMs * a.count);
  let weightLeft = order.reduce((a, w) => a + w.defaultMs * w.count, 0);
  for (const w of order) {
    const weight = w.defaultMs * w.count;
    const share = ((o.budgetMs - elapsed()) * weight) / Math.max(weightLeft, 1e-9);
    const stepStart = elapsed();
    for (const c of w.candidates.slice(1)) {
      // A candidate costs about what the step's default did (building, checking and timing it;
      // half as much again for margin): none starts that would likely end past the share or budget.
      const next = elapsed() + 1.5 * w.costMs;
      if (next - stepStart > share || next > o.budgetMs) {
        truncated = true;
        break;
      }
      progress(w);
      const began = elapsed();
      const r = await measure(o, w, c);
      w.costMs = Math.max(w.costMs, elapsed() - began);
      done++;
      w.tried++;
      if ("reason" in r) w.rejected.push({ kernel: c.kernel.name, reason: r.reason });
      else if (r.ms < w.best!.ms) w.best = { choice: c.choice, kernel: c.kernel.name, ms: r.ms };
    }
    weightLeft -= weight;
  }
  o.onProgress?.({
    done,
    total,
    elapsedMs: elapsed(),
    budgetMs: o.budgetMs,
    step: "",
    finished: true,
  });

  const steps: StepTuning[] = measured.map((w) => ({
    key: w.key,
    path: w.step.node.path,
    count: w.count,
    candidates: w.candidates.length,
    tried: w.tried,
    defaultMs: w.defaultMs,
    best: w.best!,
    rejected: w.rejected,
  }));
  // Within 5% of the default is noise: the default stays, so tuning never makes a step slower.
  const choices: Record<string, KernelChoice> = {};
  for (const w of measured) {
    const first = w.candidates[0]!;
    if (w.best!.choice !== first.choice && w.best!.ms < 0.95 * w.defaultMs)
      choices[w.key] = w.best!.choice;
    else w.best = { choice: first.choice, kernel: first.kernel.name, ms: w.defaultMs };
  }
  return { method: timingMethod(o.device), steps, choices, elapsedMs: elapsed(), truncated };
}
