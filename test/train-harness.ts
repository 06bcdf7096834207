// A differential harness for the training program: one network built into a TrainProgram, run
// by the trainer on a CPU WebGPU adapter, and checked against the float64 reference
// (test/reference/backward.ts): loss, logits and every gradient, two SGD steps with momentum
// (weights, momentum buffers, BN running statistics), evaluation mode against the reference
// inference executor, and the memory plan's sanity. Returns the failures as text, so a
// property can print the model with them.
import type { Graph } from "../compiler/ir.js";
import { buildTrainProgram } from "../compiler/train/build.js";
import type { TrainProgram } from "../compiler/train/program.js";
import type { Backend } from "../runtime/adapter-node.js";
import { kernelLimits } from "../runtime/device.js";
import { createTrainer, expectedTrainTensors } from "../runtime/train/trainer.js";
import { gpuDevice, randomArray } from "./gpu.js";
import { sgdStep, trainReference } from "./reference/backward.js";
import { runReference } from "./reference/executor.js";

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! ** 2;
  return Math.sqrt(s);
}

function diffNorm(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

/** Tolerances: ||got - want|| <= rtol ||want|| + atol sqrt(n). */
export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
}

/**
 * float32 against float64. `atol` is a floor for gradients that are zero in exact arithmetic
 * and float32 noise on the GPU: a conv bias right before a BN (the BN removes the mean), a
 * channel no value of which passes a ReLU.
 */
export const defaultTolerance: Tolerance = { rtol: 1e-4, atol: 1e-6 };

export class Mismatches {
  readonly lines: string[] = [];
  /** The program's kernel names (`<family> <shape> [store tag]`), for coverage. */
  kernels: string[] = [];
  /** The largest share of its tolerance one tensor used (< 1 when all passed), and which. */
  worst = 0;
  worstName = "";
  check(
    what: string,
    got: ArrayLike<number> | undefined,
    want: ArrayLike<number> | undefined,
    t: Tolerance,
  ): void {
    if (!got || !want) {
      this.lines.push(`${what}: ${got ? "no reference value" : "missing"}`);
      return;
    }
    if (got.length !== want.length) {
      this.lines.push(`${what}: ${got.length} values, expected ${want.length}`);
      return;
    }
    const err = diffNorm(got, want);
    const bound = t.rtol * norm(want) + t.atol * Math.sqrt(want.length);
    const rel = err / Math.max(norm(want), 1e-30);
    if (!(err <= bound)) {
      let at = 0;
      for (let i = 0; i < got.length; i++)
        if (!(Math.abs(got[i]! - want[i]!) <= Math.abs(got[at]! - want[at]!))) at = i;
      this.lines.push(
        `${what}: relative L2 ${rel.toExponential(2)} (|err| ${err.toExponential(2)} > bound ${bound.toExponential(2)}); worst [${at}] got ${got[at]} want ${want[at]}`,
      );
    }
    // The largest relative error seen among tensors whose reference is not ~0.
    // The largest share of its tolerance any tensor used.
    if (err / bound > this.worst) {
      this.worst = err / bound;
      this.worstName = `${what} (relative L2 ${rel.toExponential(2)})`;
    }
  }
  fail(line: string): void {
    this.lines.push(line);
  }
}

/**
 * Memory-plan sanity: shared bytes no more than unshared, no step binds two logical buffers of
 * one slot (or one buffer twice where a binding writes), shared slots' lifetimes disjoint, and
 * every shared buffer first bound where a step writes it (nothing reads another's leftovers).
 */
export function checkMemoryPlan(p: TrainProgram, m: Mismatches): void {
  if (!(p.transientBytes <= p.unsharedBytes))
    m.fail(`memory: transientBytes ${p.transientBytes} > unsharedBytes ${p.unsharedBytes}`);
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  p.steps.forEach((s, i) => {
    if (s.buffers.length !== s.kernel.access.length)
      m.fail(
        `step ${i} (${s.kernel.name} of ${s.layer}) binds ${s.buffers.length} buffers for ${s.kernel.access.length} accesses`,
      );
    for (let a = 0; a < s.buffers.length; a++) {
      const id = s.buffers[a]!;
      if (!first.has(id)) {
        first.set(id, i);
        const b = p.buffers[id]!;
        const shared = p.buffers.some((o) => o.id !== id && o.slot === b.slot);
        if (shared && s.kernel.access[a] !== "write")
          m.fail(
            `memory: '${b.name}' shares slot ${b.slot} and is first bound read-only by step ${i} (${s.kernel.name} of ${s.layer})`,
          );
      }
      last.set(id, i);
      for (let c = a + 1; c < s.buffers.length; c++) {
        const other = s.buffers[c]!;
        const x = p.buffers[id]!;
        const y = p.buffers[other]!;
        if (x.slot !== y.slot) continue;
        if (id !== other || s.kernel.access[a] === "write" || s.kernel.access[c] === "write")
          m.fail(
            `memory: step ${i} (${s.kernel.name} of ${s.layer}) binds '${x.name}' and '${y.name}' of one slot ${x.slot}`,
          );
      }
    }
  });
  const bySlot = new Map<number, number[]>();
  for (const b of p.buffers) bySlot.set(b.slot, [...(bySlot.get(b.slot) ?? []), b.id]);
  for (const [slot, ids] of bySlot) {
    const bound = ids.filter((id) => first.has(id));
    for (let i = 0; i < bound.length; i++)
      for (let j = i + 1; j < bound.length; j++) {
        const a = bound[i]!;
        const b = bound[j]!;
        if (first.get(a)! <= last.get(b)! && first.get(b)! <= last.get(a)!)
          m.fail(
            `memory: '${p.buffers[a]!.name}' (steps ${first.get(a)}-${last.get(a)}) and '${p.buffers[b]!.name}' (steps ${first.get(b)}-${last.get(b)}) overlap in slot ${slot}`,
          );
      }
    for (const id of ids)
      if (4 * p.buffers[id]!.elements > p.slots[slot]!)
        m.fail(`memory: '${p.buffers[id]!.name}' is larger than its slot ${slot}`);
  }
}

/**
 * The bias of a conv whose only consumer is a BN has a gradient of exactly zero (the BN takes
 * the mean out); float32 leaves the rounding of a sum of terms that cancel, which scales with
 * the BN's own gradients. Such a bias must stay below 1e-4 of the BN bias gradient's RMS.
 */
function cancelledBiasFloors(
  graph: Graph,
  grads: ReadonlyMap<string, ArrayLike<number>>,
): Map<string, number> {
  const floors = new Map<string, number>();
  for (const node of graph.nodes) {
    if (node.op.kind !== "conv" || !node.op.bias) continue;
    const consumers = graph.nodes.filter((n) => n.inputs.includes(node.id));
    if (consumers.length !== 1 || consumers[0]!.op.kind !== "bn") continue;
    const beta = grads.get(`${consumers[0]!.path}.bias`);
    if (beta) floors.set(`${node.path}.bias`, (1e-4 * norm(beta)) / Math.sqrt(beta.length));
  }
  return floors;
}

/** He-like random tensors for every parameter and running statistic of the program. */
export function randomTrainTensors(p: TrainProgram, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let s = seed;
  for (const t of expectedTrainTensors(p)) {
    const n = size(t.shape);
    const u = randomArray(n, (s = (s * 7919 + 17) >>> 0));
    let v: Float32Array;
    if (t.name.endsWith(".running_var")) v = u.map((x) => 0.5 + 0.4 * x);
    else if (t.name.endsWith(".running_mean")) v = u.map((x) => 0.2 * x);
    else if (t.name.endsWith(".bias")) v = u.map((x) => 0.1 * x);
    else if (t.shape.length === 1)
      v = u.map((x) => 1 + 0.3 * x); // BN gamma
    else {
      // conv [Cout, Cin/g, kT, kH, kW] or fc [out, features]: uniform with variance 2 / fan-in
      const fanIn = size(t.shape.slice(1));
      const scale = Math.sqrt(6 / fanIn);
      v = u.map((x) => scale * x);
    }
    out.set(t.name, v);
  }
  return out;
}

export interface TrainCase {
  readonly graph: Graph;
  readonly seed: number;
  readonly tolerance?: Tolerance;
  /** Also evaluate a batch of fewer clips (the first ones). */
  readonly evalClips?: number;
  /** Lower the workgroups per dimension so the largest grids fold into two dimensions. */
  readonly fold?: boolean;
  /** Layer paths whose parameters stay fixed (buildTrainProgram's `freeze`). */
  readonly freeze?: readonly string[];
}

/** The case's program: the device's limits, or folding ones (at least 3 workgroups to fold). */
export function trainProgram(
  device: GPUDevice,
  c: TrainCase,
): { program: TrainProgram; folded: boolean } {
  const limits = kernelLimits(device);
  const freeze = c.freeze ?? [];
  const program = buildTrainProgram(c.graph, { limits, dropout: false, freeze });
  if (!c.fold) return { program, folded: false };
  const largest = Math.max(
    ...program.steps.map((s) => s.kernel.dispatch[0] * s.kernel.dispatch[1]),
  );
  if (largest < 3) return { program, folded: false };
  const folded = buildTrainProgram(c.graph, {
    limits: { ...limits, maxComputeWorkgroupsPerDimension: Math.ceil(Math.sqrt(largest)) },
    dropout: false,
    freeze,
  });
  return { program: folded, folded: true };
}

const hyper = { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 };

function labelsFor(n: number, classes: number, seed: number): number[] {
  return Array.from(randomArray(n, seed), (x) =>
    Math.min(classes - 1, Math.floor(((x + 1) / 2) * classes)),
  );
}

const f64 = (m: ReadonlyMap<string, ArrayLike<number>>): Map<string, Float64Array> =>
  new Map([...m].map(([k, v]) => [k, Float64Array.from(v)]));

/** The BN layers a program normalises with running statistics (frozen, no gradient through). */
const fixedBn = (p: TrainProgram) =>
  new Set(
    p.steps.filter((s) => /^bn-statistics .* fixed$/.test(s.kernel.name)).map((s) => s.layer),
  );

/** Runs the whole differential check of one network; returns the mismatches (none: it passed). */
export async function checkTraining(backend: Backend, c: TrainCase): Promise<Mismatches> {
  const tol = c.tolerance ?? defaultTolerance;
  const m = new Mismatches();
  const { device } = await gpuDevice(backend);
  const { program, folded } = trainProgram(device, c);
  if (folded && !program.steps.some((s) => s.kernel.dispatch[1] > 1))
    m.fail(`fold: no step's grid folded`);
  checkMemoryPlan(program, m);
  m.kernels = program.steps.map((s) => s.kernel.name);
  const tensors = randomTrainTensors(program, c.seed);
  const n = program.batch;
  const clip = size(program.clip);
  const batches = [0, 1].map((i) => ({
    input: randomArray(n * clip, c.seed * 31 + 5 + i),
    labels: labelsFor(n, program.classes, c.seed * 17 + 3 + i),
  }));
  const trainer = await createTrainer({ program, device, tensors });
  try {
    // ---- gradients: forward in training mode, loss, backward
    const weights = f64(tensors);
    const ref0 = trainReference(
      c.graph,
      batches[0]!.input,
      batches[0]!.labels,
      weights,
      fixedBn(program),
    );
    const g = await trainer.gradients(batches[0]!);
    if (!(Math.abs(g.loss - ref0.loss) <= 1e-5 * Math.max(1, Math.abs(ref0.loss))))
      m.fail(`loss: got ${g.loss}, want ${ref0.loss}`);
    m.check("logits", g.logits, ref0.logits.data, tol);
    const floors = cancelledBiasFloors(c.graph, ref0.grads);
    const tolOf = (name: string, times = 1): Tolerance => ({
      rtol: tol.rtol,
      atol: Math.max(tol.atol, floors.get(name) ?? 0) * times,
    });
    // Every gradient the program computes, and every one of a parameter not frozen.
    const frozen = new Set(program.params.filter((q) => q.frozen).map((q) => q.name));
    const computed = program.params.filter((q) => q.grad !== undefined).map((q) => q.name);
    for (const name of new Set([...computed, ...ref0.grads.keys()]))
      if (!frozen.has(name) || g.grads.has(name))
        m.check(`grad ${name}`, g.grads.get(name), ref0.grads.get(name), tolOf(name));
    const stepped = (grads: ReadonlyMap<string, Float64Array>) =>
      new Map([...grads].filter(([name]) => !frozen.has(name)));

    // ---- two SGD steps: the first on batch 0 from the same weights (its gradient is ref0's;
    // `gradients` leaves the running statistics, which move in the update phase), the second
    // on batch 1 (momentum)
    const momentum = new Map<string, Float64Array>();
    const w1 = f64(tensors);
    sgdStep(w1, stepped(ref0.grads), momentum, hyper);
    for (const [k, v] of ref0.running) w1.set(k, v);
    const s1 = await trainer.step(batches[0]!, hyper);
    if (!(Math.abs(s1.loss - ref0.loss) <= 1e-5 * Math.max(1, Math.abs(ref0.loss))))
      m.fail(`step 1 loss: got ${s1.loss}, want ${ref0.loss}`);
    const state1 = await trainer.readState();
    compareState("step 1", state1.tensors, state1.momentum, tensors, w1, momentum, m, tolOf);

    const ref2 = trainReference(
      c.graph,
      batches[1]!.input,
      batches[1]!.labels,
      w1,
      fixedBn(program),
    );
    const s2 = await trainer.step(batches[1]!, hyper);
    if (!(Math.abs(s2.loss - ref2.loss) <= 1e-5 * Math.max(1, Math.abs(ref2.loss))))
      m.fail(`step 2 loss: got ${s2.loss}, want ${ref2.loss}`);
    m.check("step 2 logits", s2.logits, ref2.logits.data, tol);
    const w2 = f64(w1);
    sgdStep(w2, stepped(ref2.grads), momentum, hyper);
    for (const [k, v] of ref2.running) w2.set(k, v);
    const state2 = await trainer.readState();
    compareState("step 2", state2.tensors, state2.momentum, state1.tensors, w2, momentum, m, tolOf);

    // ---- evaluation mode: the running statistics, against the inference executor
    const evalInput = randomArray(n * clip, c.seed * 13 + 11);
    const refEval = runReference(c.graph, evalInput, w2);
    const out = c.graph.nodes[c.graph.output]!;
    const logitsId = out.op.kind === "softmax" ? out.inputs[0]! : out.id;
    const want = refEval.get(logitsId)!.data;
    m.check("evaluate logits", await trainer.evaluate(evalInput), want, tol);
    const k = c.evalClips ?? 0;
    if (k > 0 && k < n)
      m.check(
        `evaluate logits of ${k} clip(s)`,
        await trainer.evaluate(evalInput.slice(0, k * clip)),
        want.slice(0, (k * want.length) / n),
        tol,
      );
  } finally {
    trainer.destroy();
  }
  return m;
}

/**
 * Weights after a step: the update (new - old) against the reference's, with a floor of
 * float32's rounding of the weights themselves; momentum buffers; running statistics.
 */
function compareState(
  what: string,
  got: Map<string, Float32Array>,
  gotMomentum: Map<string, Float32Array>,
  before: ReadonlyMap<string, Float32Array>,
  want: ReadonlyMap<string, ArrayLike<number>>,
  wantMomentum: ReadonlyMap<string, ArrayLike<number>>,
  m: Mismatches,
  tolOf: (name: string, times?: number) => Tolerance,
): void {
  for (const [name, w] of want) {
    const g = got.get(name);
    if (name.endsWith(".running_mean") || name.endsWith(".running_var")) {
      m.check(`${what} ${name}`, g, w, tolOf(name));
      continue;
    }
    const old = before.get(name)!;
    const rounding = 4 * 2 ** -24 * norm(w);
    const d = (a: ArrayLike<number>) => Array.from(a, (x, i) => x - old[i]!);
    // The momentum buffer sums the gradients of both steps: twice the gradient's floor.
    const t = tolOf(name, 2);
    m.check(`${what} ${name} update`, g && d(g), d(w), {
      rtol: t.rtol,
      atol: t.atol * hyper.lr + rounding / Math.sqrt(w.length),
    });
  }
  for (const [name, b] of wantMomentum)
    m.check(`${what} momentum ${name}`, gotMomentum.get(name), b, tolOf(name, 2));
}

/**
 * A step whose loss is not finite changes nothing: a NaN in the last FC's weight makes one
 * logit of every clip NaN, so the loss, every gradient and every update would be NaN; the
 * parameters, the momentum buffers and the running statistics must keep their bits.
 */
export async function checkNonFiniteStep(
  backend: Backend,
  c: TrainCase,
  m: Mismatches,
): Promise<void> {
  const { device } = await gpuDevice(backend);
  const { program } = trainProgram(device, c);
  const tensors = randomTrainTensors(program, c.seed);
  const last = program.params.filter((p) => p.shape.length === 2).at(-1)!;
  tensors.get(last.name)![0] = NaN;
  const momentum = new Map(
    program.params.map((p) => [p.name, randomArray(size(p.shape), c.seed + 99)]),
  );
  const n = program.batch;
  const clip = size(program.clip);
  const trainer = await createTrainer({ program, device, tensors, momentum });
  try {
    const before = await trainer.readState();
    const r = await trainer.step(
      { input: randomArray(n * clip, c.seed + 7), labels: labelsFor(n, program.classes, c.seed) },
      hyper,
    );
    if (!Number.isNaN(r.loss)) m.fail(`a NaN in ${last.name}: the loss ${r.loss} is not NaN`);
    const after = await trainer.readState();
    for (const [what, x, y] of [
      ["tensor", before.tensors, after.tensors],
      ["momentum", before.momentum, after.momentum],
    ] as const)
      for (const [name, v] of x) {
        const w = y.get(name)!;
        const at = v.findIndex((e, i) => !Object.is(e, w[i]));
        if (at >= 0)
          m.fail(`a step with a NaN loss changed ${what} ${name}[${at}] from ${v[at]} to ${w[at]}`);
      }
  } finally {
    trainer.destroy();
  }
}
