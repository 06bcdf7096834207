// Property-based differential tests of the GPU-grade variants (the workgroup-memory GEMM, split-K
// with and without subgroups, the implicit-GEMM stem, the depthwise halo kernel) on both CPU
// adapters against the float64 reference executor. None is a default choice, and a plan takes
// a tuning file's choice only where `csnc tune` could have made it (its few, large candidate
// tiles), so each case draws any tile and runs it on every step of its kind by replacing those
// steps' kernel records in the default plan with `generate`'s (checked to bind, stage and pack
// as the default did), then checks that every such step runs it. Shapes are drawn with size-1
// dimensions and sizes that are not multiples of the tiles; tiles stay small, since the CPU
// adapters compile big unrolled kernels slowly. The tuner's own path (candidates, then
// `Tuning.choices` keyed by `stepKey`) is tested on a small CSN with every conv on a GPU-grade
// candidate.
//
// CSNC_FUZZ_RUNS=<n> draws n cases per property (default 4); CSNC_FUZZ_SEED=<n> the seed.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lower } from "../compiler/compile.js";
import { candidates } from "../compiler/kernels/candidates.js";
import type { GemmTile, HaloTile, KernelChoice, SplitKTile } from "../compiler/kernels/choice.js";
import { unlimitedLimits, type KernelLimits } from "../compiler/kernels/common.js";
import {
  clipLayout,
  convVariant,
  generate,
  stepKey,
  type ClipLayout,
} from "../compiler/kernels/select.js";
import type { ConvLayout } from "../compiler/kernels/weights.js";
import type { InferenceGraph } from "../compiler/inference.js";
import type { Backend } from "../runtime/adapter-node.js";
import { testBackends } from "./backends.js";
import { kernelLimits } from "../runtime/device.js";
import { buildPlan, type Plan } from "../compiler/plan.js";
import type { Graph } from "../compiler/ir.js";
import type { Tuning } from "../compiler/kernels/tuning.js";
import type { Precision } from "../compiler/kernels/format.js";
import { withFormats } from "../compiler/plan/formats.js";
import { createSession } from "../runtime/session.js";
import { buildGraph, differential, gpuDevice, randomArray, relL2 } from "./gpu.js";
import { runReference, softmax } from "./reference/executor.js";

const runsFromEnv = Number(process.env.CSNC_FUZZ_RUNS ?? "");
const numRuns = Number.isInteger(runsFromEnv) && runsFromEnv > 0 ? runsFromEnv : 4;
const seedFromEnv = Number(process.env.CSNC_FUZZ_SEED ?? "");
const seed = Number.isInteger(seedFromEnv) && seedFromEnv > 0 ? seedFromEnv : 20261202;
const backends = testBackends();

/** A drawn case: a model, the kind of conv to force and the variant forced on it. */
interface Case {
  readonly input: readonly [number, number, number, number];
  readonly batch: number;
  readonly body: string;
  readonly layout: ConvLayout | "global_avgpool";
  readonly choice: KernelChoice;
  /** Every forced step's kernel name must match. */
  readonly kernel: RegExp;
  /** Fold the grids into two dimensions by lowering the workgroups per dimension. */
  readonly fold?: boolean;
}

const size = (max = 9) =>
  fc.oneof(
    { arbitrary: fc.constant(1), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max }), weight: 3 },
  );
const batch = fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3 }));
const vecChannels = (max = 24) => fc.integer({ min: 1, max: max / 4 }).map((k) => 4 * k);
const dims = (d: readonly number[]) => d.join("x");
const stride = fc.integer({ min: 1, max: 3 });
/**
 * C x W of an input a staging texture accepts: C in fours and W x C a multiple of 64 (of 128
 * for halves: 256-byte rows either way).
 */
const textureCW = (half: boolean) =>
  fc.constantFrom(16, 32, 64).chain((c) =>
    fc.tuple(
      fc.constant(c),
      size(c === 64 ? 5 : 2).map((k) => k * Math.max(1, (half ? 128 : 64) / c)),
    ),
  );
const modelText = (c: Case) => `model m() { input ${dims(c.input)}  ${c.body} }`;
const epilogue = fc.constantFrom("", " relu", " bn", " bn relu");

const gemmTile: fc.Arbitrary<GemmTile> = fc.record({
  wm: fc.constantFrom(1, 2, 4, 8),
  wn: fc.constantFrom(1, 2, 4),
  tm: fc.constantFrom(1, 2, 3),
  tn: fc.constantFrom(1, 2),
  bk: fc.constantFrom(1, 2, 3, 8),
});

/**
 * 1x1x1 convs (plain, strided, or a bottleneck whose last conv adds the residual, identity or
 * projected), every one of them run by `choice`.
 */
const pointwiseCases = (
  textures: boolean,
  choice: fc.Arbitrary<KernelChoice>,
  name: RegExp,
  half: boolean,
) =>
  fc
    .record({
      cw: textures ? textureCW(half) : fc.tuple(vecChannels(), size()),
      t: size(),
      h: size(),
      cout: vecChannels(32),
      stride: fc.tuple(stride, stride, stride),
      // A projection's inner convs read a strided activation no staging texture takes.
      shape: textures
        ? fc.constantFrom("conv", "identity")
        : fc.constantFrom("conv", "identity", "projection"),
      epilogue,
      batch,
      choice,
      fold: fc.boolean(),
    })
    .map((r) => {
      const [c] = r.cw;
      const body = {
        conv: `conv(${r.cout}, 1x1x1, stride = ${dims(r.stride)})${r.epilogue}`,
        identity: `residual { conv(${c}, 1x1x1) bn relu conv(${c}, 1x1x1) bn } relu`,
        projection: `residual { conv(${c}, 1x1x1) bn relu dwconv(stride = 2) bn relu conv(${2 * c}, 1x1x1) bn } relu`,
      }[r.shape];
      return {
        input: [c, r.t, r.h, r.cw[1]] as const,
        batch: r.batch,
        body,
        layout: "pointwise" as const,
        choice: r.choice,
        kernel: name,
        fold: r.fold,
      };
    });

const storageOf = (textures: boolean) => (textures ? ("texture" as const) : ("buffer" as const));

const gemm = (textures: boolean, half: boolean) =>
  pointwiseCases(
    textures,
    gemmTile.map((tile) => ({ family: "conv-gemm", storage: storageOf(textures), tile }) as const),
    new RegExp(`^conv-gemm(-strided)?${textures ? "-tex" : ""}-vec4-`),
    half,
  );

const splitKTile: fc.Arbitrary<SplitKTile> = fc.record({
  rows: fc.constantFrom(1, 2, 3),
  cols: fc.constantFrom(1, 2),
  split: fc.constantFrom(1, 2, 4, 8, 32, 64),
});

const splitK = (textures: boolean, subgroups: boolean, half: boolean) =>
  pointwiseCases(
    textures,
    splitKTile.map(
      (tile) =>
        ({
          family: "conv-pointwise-splitk",
          storage: storageOf(textures),
          tile,
          ...(subgroups ? { subgroups } : {}),
        }) as const,
    ),
    new RegExp(
      `^conv-pointwise-splitk${subgroups ? "-subgroups" : ""}(-strided)?${textures ? "-tex" : ""}-vec4-`,
    ),
    half,
  );

/** A window over `thw`: kernel 1-kmax, stride 1-3, padding up to the kernel, fitted to the input. */
function windowOver(thw: readonly number[], kmax: readonly number[]) {
  const axis = (extent: number, km: number) =>
    fc
      .record({ k: fc.integer({ min: 1, max: km }), s: stride, p: fc.integer({ min: 0, max: 3 }) })
      .map(({ k, s, p }) => {
        let pad = Math.min(p, k);
        if (k > extent + 2 * pad) pad = Math.ceil((k - extent) / 2);
        return { k, s, p: pad };
      });
  return fc
    .tuple(axis(thw[0]!, kmax[0]!), axis(thw[1]!, kmax[1]!), axis(thw[2]!, kmax[2]!))
    .map((a) => ({
      text: `${dims(a.map((x) => x.k))}, stride = ${dims(a.map((x) => x.s))}, pad = ${dims(a.map((x) => x.p))}`,
      pointwise: a.every((x) => x.k === 1 && x.p === 0),
    }));
}

/**
 * Dense convs as implicit GEMMs: the stem reading the clip (channels-first as given, or the
 * clip texture) or a conv reading a channels-last activation (a buffer or a staged texture).
 */
const implicitGemm = (clip: boolean, textures: boolean, half: boolean) =>
  fc
    .record({
      cw: textures && !clip ? textureCW(half) : fc.tuple(fc.integer({ min: 1, max: 4 }), size(8)),
      t: size(5),
      h: size(8),
      cout: vecChannels(16),
      bias: fc.boolean(),
      batch,
      tile: gemmTile,
      fold: fc.boolean(),
    })
    .chain((r) =>
      windowOver([r.t, r.h, r.cw[1]], clip ? [3, 7, 7] : [2, 3, 3])
        .filter((w) => !w.pointwise)
        .map((w): Case => ({
          input: [r.cw[0], r.t, r.h, r.cw[1]] as const,
          batch: r.batch,
          body: `${clip ? "" : "relu "}conv(${r.cout}, ${w.text}, bias = ${r.bias}) relu`,
          layout: "direct",
          choice: { family: "conv-implicit-gemm", storage: storageOf(textures), tile: r.tile },
          kernel: new RegExp(
            `^conv-implicit-gemm${textures ? (clip ? "-tex-clip" : "-tex") : clip ? "-ncthw" : ""}-k`,
          ),
          fold: r.fold,
        })),
    );

const haloTile: fc.Arbitrary<HaloTile> = fc.record({
  th: fc.integer({ min: 1, max: 4 }),
  tw: fc.integer({ min: 1, max: 5 }),
  cg: fc.constantFrom(1, 2, 4),
});

const depthwiseHalo = (textures: boolean, vec: boolean, half: boolean) =>
  fc
    .record({
      cw: textures
        ? textureCW(half)
        : fc.tuple(
            vec ? vecChannels() : fc.integer({ min: 2, max: 11 }).filter((c) => c % 4 !== 0),
            size(),
          ),
      t: size(5),
      h: size(),
      batch,
      tile: haloTile,
      epilogue: fc.constantFrom("", " relu", " bn relu"),
      fold: fc.boolean(),
    })
    .chain((r) =>
      windowOver([r.t, r.h, r.cw[1]], [3, 3, 3]).map((w): Case => ({
        input: [r.cw[0], r.t, r.h, r.cw[1]] as const,
        batch: r.batch,
        body: `relu dwconv(${w.text})${r.epilogue}`,
        layout: "depthwise",
        choice: { family: "conv-depthwise-halo", storage: storageOf(textures), tile: r.tile },
        kernel: new RegExp(
          `^conv-depthwise-halo${textures ? "-tex" : ""}-${vec ? "vec4" : "scalar"}-`,
        ),
        fold: r.fold,
      })),
    );

/** Global average pooling (then the head's fc), its positions split across a workgroup. */
const globalPool = (vec: boolean, subgroups: boolean) =>
  fc
    .record({
      c: vec ? vecChannels() : fc.integer({ min: 1, max: 11 }).filter((c) => c % 4 !== 0),
      t: size(),
      h: size(),
      w: size(),
      batch,
      threads: fc.constantFrom(1, 2, 4, 8, 32, 64),
      fold: fc.boolean(),
    })
    .map((r): Case => ({
      input: [r.c, r.t, r.h, r.w] as const,
      batch: r.batch,
      body: "relu avgpool fc(3)",
      layout: "global_avgpool",
      choice: {
        family: "global-avgpool-reduce",
        threads: r.threads,
        ...(subgroups ? { subgroups } : {}),
      },
      kernel: new RegExp(
        `^global-avgpool-reduce${subgroups ? "-subgroups" : ""}-${vec ? "vec4" : "scalar"}-`,
      ),
      fold: r.fold,
    }));

interface Forcing {
  readonly graph: Graph;
  readonly steps: InferenceGraph["nodes"];
  readonly inputOf: (n: InferenceGraph["nodes"][number]) => InferenceGraph["nodes"][number];
  /** The default plan's policy: texture storage where the forced choice reads textures. */
  readonly tuning: Tuning;
  readonly precision: Precision;
}

/** The steps of the case's kind, to be run by the case's choice. */
function forcing(c: Case, precision: Precision): Forcing {
  const graph = buildGraph(modelText(c), { batch: c.batch });
  // The steps as the plan annotates them: generated in the formats they will run in.
  const g = withFormats(lower(graph), precision, false);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const inputOf = (n: (typeof g.nodes)[number]) => byId.get(n.inputs[0]!)!;
  const steps = g.nodes.filter((n) =>
    n.op.kind === "conv"
      ? convVariant(n.op.conv, inputOf(n).shape[1]) === c.layout
      : n.op.kind === c.layout,
  );
  return {
    graph,
    steps,
    inputOf,
    tuning: { textures: "storage" in c.choice && c.choice.storage === "texture" },
    precision,
  };
}

/**
 * The plan with the forced steps run by the case's choice. A plan takes a tuning file's choice
 * only if `csnc tune` could have made it (candidates.ts `admissible`), and the tuner's tiles
 * are few and large, so to draw any tile the plan is built with the defaults and each forced
 * step's kernel record is replaced by `generate`'s for the choice. The replacement must bind,
 * stage and pack exactly as the default kernel did (same roles, textures and weight layout):
 * the plan stays one the planner could have made.
 */
function forcedPlan(c: Case, f: Forcing, limits: KernelLimits): Plan {
  const plan = buildPlan(lower(f.graph), limits, f.tuning, f.precision);
  const clip = plan.input.layout;
  const forced = new Map(f.steps.map((n) => [n.path, n]));
  const shaders = [...plan.shaders];
  const dispatches = plan.dispatches.map((d) => {
    const n = forced.get(d.path);
    if (!n) return d;
    const input = f.inputOf(n);
    const k = generate(n, input, limits, c.choice, clip);
    const was = generate(n, input, limits, d.choice, clip);
    expect(k.bindings).toEqual(was.bindings);
    expect(k.textures).toEqual(was.textures);
    expect(k.weights).toEqual(was.weights);
    shaders.push(k.wgsl);
    return {
      ...d,
      kernel: k.name,
      family: k.family,
      choice: k.choice,
      shader: shaders.length - 1,
      workgroups: k.dispatch,
    };
  });
  // Keep only the shaders some dispatch runs, in order.
  const used = [...new Set(dispatches.map((d) => d.shader))].sort((a, b) => a - b);
  const at = new Map(used.map((x, i) => [x, i]));
  return {
    ...plan,
    shaders: used.map((x) => shaders[x]!),
    dispatches: dispatches.map((d) => ({ ...d, shader: at.get(d.shader)! })),
  };
}

/** Lowers the workgroups per dimension so that the forced steps' grids fold. */
function foldingLimits(c: Case, f: Forcing, limits: KernelLimits): KernelLimits {
  if (!c.fold) return limits;
  const paths = new Set(f.steps.map((n) => n.path));
  const all = forcedPlan(c, f, limits).dispatches;
  const size = (d: (typeof all)[number]) => d.workgroups[0] * d.workgroups[1];
  const largest = Math.max(...all.filter((d) => paths.has(d.path)).map(size));
  if (largest < 3) return limits;
  // The other steps (a standalone relu before the forced one) must still fit the folded grid.
  const others = Math.max(1, ...all.filter((d) => !paths.has(d.path)).map(size));
  const side = Math.max(Math.ceil(Math.sqrt(largest)), Math.ceil(Math.sqrt(others)));
  return { ...limits, maxComputeWorkgroupsPerDimension: side };
}

/** The forced plan on the GPU against the float64 reference, with random weights and input. */
async function check(backend: Backend, c: Case, precision: Precision): Promise<void> {
  const f = forcing(c, precision);
  const what = `${modelText(c)} (batch ${c.batch}, ${precision}, choice ${JSON.stringify(c.choice)})`;
  expect(f.steps.length, `no ${c.layout} conv: ${what}`).toBeGreaterThan(0);
  const { device } = await gpuDevice(backend);
  const limits = foldingLimits(c, f, kernelLimits(device));
  const plan = forcedPlan(c, f, limits);
  const kernels = plan.dispatches.map((d) => d.kernel).join(" ");
  for (const n of f.steps) {
    const d = plan.dispatches.find((x) => x.path === n.path)!;
    expect(d.kernel, `${n.path} of ${what}; kernels ${kernels}`).toMatch(c.kernel);
  }
  if (c.fold && limits.maxComputeWorkgroupsPerDimension < 65535)
    expect(
      plan.dispatches.some((d) => d.workgroups[1] > 1),
      `no folded grid: ${what}`,
    ).toBe(true);
  const input = randomArray(
    f.graph.nodes[0]!.shape.reduce((a, b) => a * b, 1),
    8,
  );
  const session = await createSession({ plan, weights: { random: 7 }, device });
  try {
    const out = await session.run(input);
    const weights = new Map([...session.tensors].map(([k, v]) => [k, v.data!]));
    const ref = runReference(f.graph, input, weights);
    const last = f.graph.nodes.at(-1)!;
    const expected = last.op.kind === "softmax" ? ref.get(last.inputs[0]!)! : ref.get(last.id)!;
    // Halves: the input, weights and stored activations each rounded (2^-11 relative).
    const tolerance = precision === "f32" ? 1e-5 : 8 * 2 ** -11;
    expect(relL2(out.logits, expected.data), `logits: ${what}; kernels ${kernels}`).toBeLessThan(
      tolerance,
    );
    expect(relL2(out.probabilities, softmax(expected).data), `probabilities: ${what}`).toBeLessThan(
      tolerance,
    );
  } finally {
    session.destroy();
  }
}

const properties = (h: boolean): [string, fc.Arbitrary<Case>, { subgroups?: boolean }?][] => [
  ["conv-gemm: buffer inputs", gemm(false, h)],
  ["conv-gemm: texture inputs", gemm(true, h)],
  ["conv-pointwise-splitk: buffer inputs", splitK(false, false, h)],
  ["conv-pointwise-splitk: texture inputs", splitK(true, false, h)],
  ["conv-pointwise-splitk with subgroups", splitK(false, true, h), { subgroups: true }],
  ["conv-implicit-gemm: the stem on the channels-first clip", implicitGemm(true, false, h)],
  ["conv-implicit-gemm: the stem on the clip texture", implicitGemm(true, true, h)],
  ["conv-implicit-gemm: channels-last buffer inputs", implicitGemm(false, false, h)],
  ["conv-implicit-gemm: staged texture inputs", implicitGemm(false, true, h)],
  ["conv-depthwise-halo: buffer inputs, vec4", depthwiseHalo(false, true, h)],
  ["conv-depthwise-halo: buffer inputs, scalar", depthwiseHalo(false, false, h)],
  ["conv-depthwise-halo: texture inputs", depthwiseHalo(true, true, h)],
  ["global-avgpool-reduce: vec4", globalPool(true, false)],
  ["global-avgpool-reduce: scalar", globalPool(false, false)],
  ["global-avgpool-reduce with subgroups", globalPool(true, true), { subgroups: true }],
];

for (const backend of backends)
  for (const precision of ["f32", "f16-storage"] as const)
    describe(`GPU-grade variants on ${backend}${precision === "f32" ? "" : ", f16 storage"} (seed ${seed}, ${numRuns} runs each)`, () => {
      for (const [name, arbitrary, needs] of properties(precision !== "f32")) {
        it(
          name,
          async () => {
            const { device } = await gpuDevice(backend);
            if (needs?.subgroups && !device.features.has("subgroups")) {
              // Without the feature the variant is no candidate, and generating it is a csnc bug.
              const limits = kernelLimits(device);
              expect(limits.subgroups).toBe(false);
              const c = fc.sample(arbitrary, { seed, numRuns: 1 })[0]!;
              const f = forcing(c, precision);
              const plan = buildPlan(lower(f.graph), limits, f.tuning, precision);
              for (const n of f.steps) {
                const offered = candidates(n, f.inputOf(n), limits, plan.input.layout);
                expect(offered.some((x) => c.kernel.test(x.kernel.name))).toBe(false);
                expect(() =>
                  generate(n, f.inputOf(n), limits, c.choice, plan.input.layout),
                ).toThrow(/^csnc bug/);
              }
              return;
            }
            await fc.assert(
              fc.asyncProperty(arbitrary, (c) => check(backend, c, precision)),
              { seed, numRuns, endOnFailure: true },
            );
          },
          120_000,
        );
      }
    });

/** ir-CSN-like steps: the stem on the clip, a bottleneck's 1x1x1 and depthwise convs. */
const csnLike = `model m() { input 3x2x16x16  conv(8, 3x7x7, stride = 1x2x2, pad = 1x3x3) bn relu residual { conv(8, 1x1x1) bn relu dwconv bn relu conv(16, 1x1x1) bn } relu }`;

function stepsOf(limits: KernelLimits, clip: (g: InferenceGraph) => ClipLayout) {
  const g = lower(buildGraph(csnLike));
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const layout = clip(g);
  return g.nodes
    .filter((n) => n.op.kind === "conv")
    .map((n) => ({ n, input: byId.get(n.inputs[0]!)!, layout, limits }));
}

const gpuGrade =
  /^(conv-(gemm|pointwise-splitk|implicit-gemm|depthwise-halo)|global-avgpool-reduce)/;
const familyOf = (c: KernelChoice) =>
  `${c.family}${"subgroups" in c && c.subgroups ? "-subgroups" : ""}`;
/** Accumulators an invocation holds (vec4s), the size that slows compiles. */
const registers = (c: KernelChoice) => {
  if (!("tile" in c)) return 0;
  const t = c.tile as Partial<GemmTile & SplitKTile & HaloTile>;
  return (t.tm ?? t.rows ?? 1) * (t.tn ?? t.cols ?? 1) * (t.bk ?? 1);
};

// What `csnc tune` may pick: every conv of a small CSN (the stem, bottlenecks with identity and
// strided projection shortcuts, the head) on a GPU-grade candidate the device offers.
for (const backend of backends) {
  it(`a small CSN with every conv on a GPU-grade candidate matches the reference on ${backend}`, async () => {
    const { device } = await gpuDevice(backend);
    const limits = kernelLimits(device);
    const graph = buildGraph(
      `model m() { input 3x2x8x8  conv(8, 3x7x7, stride = 1x2x2, pad = 1x3x3) bn relu residual { conv(8, 1x1x1) bn relu dwconv bn relu conv(16, 1x1x1) bn } relu residual { conv(8, 1x1x1) bn relu dwconv(stride = 2) bn relu conv(32, 1x1x1) bn } relu avgpool fc(5) }`,
    );
    const g = lower(graph);
    const byId = new Map(g.nodes.map((n) => [n.id, n]));
    const layout = clipLayout(g, limits);
    const choices: Record<string, KernelChoice> = {};
    let turn = 0;
    for (const n of g.nodes.filter((x) => x.op.kind === "conv" || x.op.kind === "global_avgpool")) {
      const input = byId.get(n.inputs[0]!)!;
      const offered = candidates(n, input, limits, layout).filter((c) =>
        gpuGrade.test(c.kernel.name),
      );
      expect(offered.length, n.path).toBeGreaterThan(0);
      // Each family's smallest tile (big unrolled tiles compile slowly on the CPU adapters),
      // the families in turn, so that the 1x1x1 steps take different variants.
      const families = [...new Set(offered.map((c) => familyOf(c.choice)))];
      const family = families[turn++ % families.length]!;
      const smallest = offered
        .filter((c) => familyOf(c.choice) === family)
        .sort((a, b) => registers(a.choice) - registers(b.choice))[0]!;
      choices[stepKey(n, input)] ??= smallest.choice;
    }
    const r = await differential(backend, graph, { tuning: { choices } });
    const forced = r.plan.dispatches.filter((d) => /^(conv|global-avgpool)/.test(d.family));
    expect(forced.some((d) => d.family === "global-avgpool-reduce")).toBe(true);
    for (const d of forced) expect(d.kernel).toMatch(gpuGrade);
    if (limits.subgroups)
      expect(Object.values(choices).some((c) => "subgroups" in c && c.subgroups)).toBe(true);
    expect(r.error).toBeLessThan(1e-5);
    expect(r.probabilitiesError).toBeLessThan(1e-5);
  }, 120_000);
}

describe("GPU-grade variants as candidates and their feasibility", () => {
  const families = (limits: KernelLimits) =>
    stepsOf(limits, (g) => clipLayout(g, limits)).map(({ n, input, layout }) => ({
      path: n.path,
      all: candidates(n, input, limits, layout).map((c) => c.kernel.name),
    }));

  it("offers each workgroup variant where it can run, the subgroup ones only with the feature", () => {
    const plain = families(unlimitedLimits);
    const withSubgroups = families({ ...unlimitedLimits, subgroups: true });
    const names = (xs: typeof plain) => xs.flatMap((x) => x.all);
    for (const family of ["conv-gemm", "conv-pointwise-splitk-", "conv-implicit-gemm-ncthw"])
      expect(names(plain).some((k) => k.startsWith(family))).toBe(true);
    expect(names(plain).some((k) => k.startsWith("conv-depthwise-halo"))).toBe(true);
    expect(names(plain).some((k) => k.includes("subgroups"))).toBe(false);
    expect(names(withSubgroups).some((k) => k.startsWith("conv-pointwise-splitk-subgroups"))).toBe(
      true,
    );
    // The stem's candidates are direct kernels only, never a 1x1x1 family.
    const stem = plain.find((x) => x.path.startsWith("stem") || x.all[0]!.includes("k3x7x7"))!;
    expect(stem.all.every((k) => /^conv-(direct|implicit-gemm)/.test(k))).toBe(true);
  });

  it("keeps every candidate within the device's workgroup size and memory", () => {
    const small = { ...unlimitedLimits, maxComputeInvocationsPerWorkgroup: 64 };
    const names = families(small).flatMap((x) => x.all);
    expect(names.some((k) => k.startsWith("conv-gemm-vec4-32x32"))).toBe(true);
    expect(names.some((k) => k.startsWith("conv-gemm-vec4-128x64"))).toBe(false);
  });

  it("throws a csnc bug for a variant that cannot run, never a downgrade", () => {
    const steps = stepsOf(unlimitedLimits, (g) => clipLayout(g, unlimitedLimits));
    const pointwise = steps.find(
      ({ n, input }) =>
        n.op.kind === "conv" && convVariant(n.op.conv, input.shape[1]) === "pointwise",
    )!;
    const impossible: KernelChoice[] = [
      // 512 invocations, past the device's workgroup size.
      {
        family: "conv-gemm",
        storage: "buffer",
        tile: { wm: 32, wn: 16, tm: 1, tn: 1, bk: 1 },
      },
      // More workgroup memory than any device has.
      { family: "conv-gemm", storage: "buffer", tile: { wm: 8, wn: 8, tm: 8, tn: 8, bk: 64 } },
      // No subgroups on this device.
      {
        family: "conv-pointwise-splitk",
        storage: "buffer",
        tile: { rows: 1, cols: 1, split: 8 },
        subgroups: true,
      },
      // A split that is not a power of two.
      { family: "conv-pointwise-splitk", storage: "buffer", tile: { rows: 1, cols: 1, split: 3 } },
      // Another kind of conv.
      { family: "conv-depthwise-halo", storage: "buffer", tile: { th: 1, tw: 1, cg: 1 } },
      {
        family: "conv-implicit-gemm",
        storage: "buffer",
        tile: { wm: 1, wn: 1, tm: 1, tn: 1, bk: 1 },
      },
    ];
    for (const choice of impossible)
      expect(() =>
        generate(pointwise.n, pointwise.input, unlimitedLimits, choice, pointwise.layout),
      ).toThrow(/^csnc bug/);
  });
});
