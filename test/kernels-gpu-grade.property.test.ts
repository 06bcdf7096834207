// Property-based differential tests of the GPU-grade variants (the workgroup-memory GEMM, split-K
// with and without subgroups, the implicit-GEMM stem, the depthwise halo kernel) on both CPU
// adapters against the float64 reference executor. None is a default choice, so each case
// forces its variant on every step of its kind through `Tuning.choices` (keyed by `stepKey`,
// as `csnc tune` records them) and checks that every such step really ran it: a choice that
// could not run would fall back to the default and pass unseen. Shapes are drawn with size-1
// dimensions and sizes that are not multiples of the tiles; tiles stay small, since llvmpipe
// compiles big unrolled kernels slowly.
//
// CSNC_FUZZ_RUNS=<n> draws n cases per property (default 4); CSNC_FUZZ_SEED=<n> the seed.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileGraph, lower } from "../compiler/compile.js";
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
import { kernelLimits } from "../runtime/device.js";
import { buildGraph, differential, gpuDevice } from "./gpu.js";

const runsFromEnv = Number(process.env.CSNC_FUZZ_RUNS ?? "");
const numRuns = Number.isInteger(runsFromEnv) && runsFromEnv > 0 ? runsFromEnv : 4;
const seedFromEnv = Number(process.env.CSNC_FUZZ_SEED ?? "");
const seed = Number.isInteger(seedFromEnv) && seedFromEnv > 0 ? seedFromEnv : 20261202;
const backends: Backend[] = ["swiftshader", "opengles"];

/** A drawn case: a model, the kind of conv to force and the variant forced on it. */
interface Case {
  readonly input: readonly [number, number, number, number];
  readonly batch: number;
  readonly body: string;
  readonly layout: ConvLayout;
  readonly choice: KernelChoice;
  /** Every forced step's kernel name must match. */
  readonly kernel: RegExp;
  /** The policy's textures flag: how the clip reaches a direct conv reading it. */
  readonly textures?: boolean;
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
/** C x W of an input a staging texture accepts: C in fours and W x C a multiple of 64. */
const textureCW = fc.constantFrom(16, 32, 64).chain((c) =>
  fc.tuple(
    fc.constant(c),
    size(c === 64 ? 5 : 2).map((k) => (c === 64 ? k : k * (64 / c))),
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
const pointwiseCases = (textures: boolean, choice: fc.Arbitrary<KernelChoice>, name: RegExp) =>
  fc
    .record({
      cw: textures ? textureCW : fc.tuple(vecChannels(), size()),
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

const gemm = (textures: boolean) =>
  pointwiseCases(
    textures,
    gemmTile.map((tile) => ({ family: "conv-gemm", storage: storageOf(textures), tile }) as const),
    new RegExp(`^conv-gemm(-strided)?${textures ? "-tex" : ""}-vec4-`),
  );

const splitKTile: fc.Arbitrary<SplitKTile> = fc.record({
  rows: fc.constantFrom(1, 2, 3),
  cols: fc.constantFrom(1, 2),
  split: fc.constantFrom(1, 2, 4, 8, 32, 64),
});

const splitK = (textures: boolean, subgroups: boolean) =>
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
const implicitGemm = (clip: boolean, textures: boolean) =>
  fc
    .record({
      cw: textures && !clip ? textureCW : fc.tuple(fc.integer({ min: 1, max: 4 }), size(8)),
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
          textures: clip && textures,
          fold: r.fold,
        })),
    );

const haloTile: fc.Arbitrary<HaloTile> = fc.record({
  th: fc.integer({ min: 1, max: 4 }),
  tw: fc.integer({ min: 1, max: 5 }),
  cg: fc.constantFrom(1, 2, 4),
});

const depthwiseHalo = (textures: boolean, vec: boolean) =>
  fc
    .record({
      cw: textures
        ? textureCW
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

interface Forcing {
  readonly steps: InferenceGraph["nodes"];
  readonly tuning: { textures: boolean; choices: Record<string, KernelChoice> };
}

/** The steps of the case's kind and a tuning that forces the case's choice on all of them. */
function forcing(c: Case): Forcing {
  const g = lower(buildGraph(modelText(c), { batch: c.batch }));
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const inputOf = (n: (typeof g.nodes)[number]) => byId.get(n.inputs[0]!)!;
  const steps = g.nodes.filter(
    (n) => n.op.kind === "conv" && convVariant(n.op.conv, inputOf(n).shape[1]) === c.layout,
  );
  const choices = Object.fromEntries(steps.map((n) => [stepKey(n, inputOf(n)), c.choice]));
  return { steps, tuning: { textures: c.textures === true, choices } };
}

/** Lowers the workgroups per dimension so that the forced steps' grids fold. */
function foldingLimits(c: Case, f: Forcing): Partial<KernelLimits> | undefined {
  if (!c.fold) return undefined;
  const graph = buildGraph(modelText(c), { batch: c.batch });
  const plan = compileGraph(graph, { ...unlimitedLimits, subgroups: true }, f.tuning);
  const paths = new Set(f.steps.map((n) => n.path));
  const forced = plan.dispatches.filter((d) => paths.has(d.path));
  const largest = Math.max(...forced.map((d) => d.workgroups[0] * d.workgroups[1]));
  if (largest < 3) return undefined;
  return { maxComputeWorkgroupsPerDimension: Math.ceil(Math.sqrt(largest)) };
}

async function check(backend: Backend, c: Case): Promise<void> {
  const f = forcing(c);
  const what = `${modelText(c)} (batch ${c.batch}, choice ${JSON.stringify(c.choice)})`;
  expect(f.steps.length, `no ${c.layout} conv: ${what}`).toBeGreaterThan(0);
  const limits = foldingLimits(c, f);
  const graph = buildGraph(modelText(c), { batch: c.batch });
  const r = await differential(backend, graph, { tuning: f.tuning, limits });
  const kernels = r.plan.dispatches.map((d) => d.kernel).join(" ");
  for (const n of f.steps) {
    const d = r.plan.dispatches.find((x) => x.path === n.path)!;
    expect(d.kernel, `${n.path} of ${what}; kernels ${kernels}`).toMatch(c.kernel);
    expect(d.choice, what).toEqual(c.choice);
  }
  if (limits)
    expect(
      r.plan.dispatches.some((d) => d.workgroups[1] > 1),
      `no folded grid: ${what}`,
    ).toBe(true);
  expect(r.error, `logits: ${what}; kernels ${kernels}`).toBeLessThan(1e-5);
  expect(r.probabilitiesError, `probabilities: ${what}`).toBeLessThan(1e-5);
}

const properties: [string, fc.Arbitrary<Case>, { subgroups?: boolean }?][] = [
  ["conv-gemm: buffer inputs", gemm(false)],
  ["conv-gemm: texture inputs", gemm(true)],
  ["conv-pointwise-splitk: buffer inputs", splitK(false, false)],
  ["conv-pointwise-splitk: texture inputs", splitK(true, false)],
  ["conv-pointwise-splitk with subgroups", splitK(false, true), { subgroups: true }],
  ["conv-implicit-gemm: the stem on the channels-first clip", implicitGemm(true, false)],
  ["conv-implicit-gemm: the stem on the clip texture", implicitGemm(true, true)],
  ["conv-implicit-gemm: channels-last buffer inputs", implicitGemm(false, false)],
  ["conv-implicit-gemm: staged texture inputs", implicitGemm(false, true)],
  ["conv-depthwise-halo: buffer inputs, vec4", depthwiseHalo(false, true)],
  ["conv-depthwise-halo: buffer inputs, scalar", depthwiseHalo(false, false)],
  ["conv-depthwise-halo: texture inputs", depthwiseHalo(true, true)],
];

for (const backend of backends) {
  describe(`GPU-grade variants on ${backend} (seed ${seed}, ${numRuns} runs each)`, () => {
    for (const [name, arbitrary, needs] of properties) {
      it(
        name,
        async () => {
          const { device } = await gpuDevice(backend);
          if (needs?.subgroups && !device.features.has("subgroups")) {
            // Without the feature the variant is no candidate, and a forced one falls back.
            expect(kernelLimits(device).subgroups).toBe(false);
            const c = fc.sample(arbitrary, { seed, numRuns: 1 })[0]!;
            const f = forcing(c);
            const graph = buildGraph(modelText(c), { batch: c.batch });
            const plan = compileGraph(graph, kernelLimits(device), f.tuning);
            for (const d of plan.dispatches) expect(d.kernel).not.toMatch(c.kernel);
            return;
          }
          await fc.assert(
            fc.asyncProperty(arbitrary, (c) => check(backend, c)),
            { seed, numRuns, endOnFailure: true },
          );
        },
        120_000,
      );
    }
  });
}

/** ir-CSN-like steps: the stem on the clip, a bottleneck's 1x1x1 and depthwise convs. */
const csnLike = `model m() { input 3x4x16x16  conv(8, 3x7x7, stride = 1x2x2, pad = 1x3x3) bn relu residual { conv(8, 1x1x1) bn relu dwconv bn relu conv(16, 1x1x1) bn } relu }`;

function stepsOf(limits: KernelLimits, clip: (g: InferenceGraph) => ClipLayout) {
  const g = lower(buildGraph(csnLike));
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const layout = clip(g);
  return g.nodes
    .filter((n) => n.op.kind === "conv")
    .map((n) => ({ n, input: byId.get(n.inputs[0]!)!, layout, limits }));
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
