// Property-based differential tests of the training kernels: small random networks drawn as
// .csn source (dense, grouped, depthwise and 1x1x1 convs with random windows, strides and
// padding, a 3x7x7 stem, BN and ReLU epilogues, residual blocks with identity, automatic,
// forced and explicit shortcuts, max pooling, global average pooling, dropout, FC heads with
// and without bias, a trailing softmax), size-1 dimensions included, trained on both CPU
// adapters and checked against the float64 reference (test/train-harness.ts): loss, logits,
// every gradient, two SGD steps with momentum and weight decay, the BN running statistics,
// evaluation mode against the inference executor, and the memory plan.
//
// BN in training mode divides by the batch's standard deviation: with very few values per
// channel it is ill-conditioned, so every drawn BN sees at least 4 (N x T x H x W).
//
// CI runs a fixed seed. CSNC_FUZZ_RUNS=<n> scales the runs (default 1: the counts below);
// CSNC_FUZZ_SEED=<n> changes the seed; a failure prints the seed, the .csn model and the
// mismatching tensors.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { unlimitedLimits } from "../compiler/kernels/common.js";
import type { Graph } from "../compiler/ir.js";
import { buildTrainProgram } from "../compiler/train/build.js";
import type { Backend } from "../runtime/adapter-node.js";
import { buildGraph } from "./gpu.js";
import { checkMemoryPlan, checkNonFiniteStep, checkTraining, Mismatches } from "./train-harness.js";

function envInt(name: string, fallback: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`${name} must be an integer from 1 to ${max}, got '${text}'`);
  return n;
}

const scale = envInt("CSNC_FUZZ_RUNS", 1, 10_000);
const seed = envInt("CSNC_FUZZ_SEED", 20261202, 2 ** 31 - 1);

type Shape = [number, number, number, number];
const dims = (d: readonly number[]) => d.join("x");

// ---- layer specs: drawn numbers, made into layers that fit the shape they meet

interface ConvSpec {
  readonly kind: "conv";
  readonly mode: "dense" | "grouped" | "depthwise" | "pointwise" | "stem";
  readonly kernel: readonly number[];
  readonly stride: readonly number[];
  readonly pad: readonly number[];
  readonly cout: number;
  readonly groups: number;
  readonly bias: boolean;
  readonly epilogue: "" | " relu" | " bn" | " bn relu";
}
interface PoolSpec {
  readonly kind: "maxpool";
  readonly kernel: readonly number[];
  readonly stride: readonly number[];
  readonly pad: readonly number[];
}
interface ResidualSpec {
  readonly kind: "residual";
  /** bottleneck: 1x1x1 bn relu 3x3x3 bn (the bn+add fusion); plain: one conv (an add kernel). */
  readonly main: "bottleneck" | "plain";
  readonly inner: number;
  /** Output channels: the input's (identity when stride 1) or more (projection). */
  readonly widen: number;
  readonly stride: number;
  readonly shortcut: "auto" | "project" | "explicit";
  readonly relu: boolean;
}
interface SimpleSpec {
  readonly kind: "relu" | "dropout";
}
type LayerSpec = ConvSpec | PoolSpec | ResidualSpec | SimpleSpec;

interface HeadSpec {
  readonly gap: boolean;
  readonly dropout: boolean;
  readonly classes: number;
  readonly bias: boolean;
  readonly softmax: boolean;
}

interface Net {
  readonly input: Shape;
  readonly batch: number;
  readonly layers: readonly LayerSpec[];
  readonly head: HeadSpec;
  /** Fold the largest grids into two dimensions (a lowered workgroups-per-dimension limit). */
  readonly fold: boolean;
  /** Frozen layers: the i-th layer with parameters (conv, bn, fc) when freeze[i]. */
  readonly freeze?: readonly boolean[];
}

const size = (max: number) =>
  fc.oneof(
    { arbitrary: fc.constant(1), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max }), weight: 3 },
  );
const triple = (a: fc.Arbitrary<number>) => fc.tuple(a, a, a);

const convSpec: fc.Arbitrary<ConvSpec> = fc.record({
  kind: fc.constant("conv" as const),
  mode: fc.constantFrom("dense", "grouped", "depthwise", "pointwise", "stem"),
  kernel: triple(fc.integer({ min: 1, max: 3 })),
  stride: triple(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 2 }))),
  pad: triple(fc.integer({ min: 0, max: 3 })),
  cout: fc.integer({ min: 1, max: 6 }),
  groups: fc.integer({ min: 2, max: 3 }),
  bias: fc.boolean(),
  epilogue: fc.constantFrom("", " relu", " bn", " bn relu", " bn relu"),
});
const poolSpec: fc.Arbitrary<PoolSpec> = fc.record({
  kind: fc.constant("maxpool" as const),
  kernel: triple(fc.integer({ min: 1, max: 3 })),
  stride: triple(fc.integer({ min: 1, max: 2 })),
  pad: triple(fc.integer({ min: 0, max: 1 })),
});
const residualSpec: fc.Arbitrary<ResidualSpec> = fc.record({
  kind: fc.constant("residual" as const),
  main: fc.constantFrom("bottleneck", "bottleneck", "plain"),
  inner: fc.integer({ min: 1, max: 4 }),
  widen: fc.constantFrom(0, 0, 1, 3),
  stride: fc.constantFrom(1, 1, 2),
  shortcut: fc.constantFrom("auto", "auto", "project", "explicit"),
  relu: fc.boolean(),
});
const simpleSpec: fc.Arbitrary<SimpleSpec> = fc.record({
  kind: fc.constantFrom("relu" as const, "dropout" as const),
});
const headSpec = (gap?: boolean): fc.Arbitrary<HeadSpec> =>
  fc.record({
    gap: gap === undefined ? fc.boolean() : fc.constant(gap),
    dropout: fc.boolean(),
    classes: fc.oneof(
      { arbitrary: fc.constant(1), weight: 1 },
      { arbitrary: fc.integer({ min: 2, max: 7 }), weight: 6 },
    ),
    bias: fc.boolean(),
    softmax: fc.boolean(),
  });

const net = (
  layers: fc.Arbitrary<LayerSpec[]>,
  head: fc.Arbitrary<HeadSpec> = headSpec(),
): fc.Arbitrary<Net> =>
  fc
    .record({
      input: fc.tuple(size(4), size(4), size(7), size(7)),
      batch: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3 })),
      layers,
      head,
      fold: fc.boolean(),
    })
    .filter((n) => {
      const text = source(n);
      // Few features for an fc over the flattened activation; at least 4 values per BN channel.
      let graph: Graph;
      try {
        graph = buildGraph(text.model, { batch: n.batch });
      } catch (e) {
        throw new Error(
          `the generator drew a model that does not check:\n${text.model}\n${String(e)}`,
        );
      }
      return graph.nodes.every((node) => {
        const [b, c, t, h, w] = node.shape as [number, number, number, number, number];
        if (node.op.kind === "bn") return b * t * h * w >= 4;
        if (node.op.kind === "fc") return c * (t ?? 1) * (h ?? 1) * (w ?? 1) <= 400;
        return size5(node.shape) <= 4000;
      });
    });

const size5 = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** A window that fits: the kernel shrunk to the padded extent, pools' padding at most half. */
function fit(
  extent: readonly number[],
  kernel: readonly number[],
  pad: readonly number[],
  pool: boolean,
) {
  const k: number[] = [];
  const p: number[] = [];
  for (let i = 0; i < 3; i++) {
    let kk = kernel[i]!;
    let pp = Math.min(pad[i]!, pool ? Math.floor(kk / 2) : kk);
    if (kk > extent[i]! + 2 * pp) {
      kk = extent[i]! + 2 * pp;
      if (pool) pp = Math.min(pp, Math.floor(kk / 2));
    }
    k.push(kk);
    p.push(pp);
  }
  return { k, p };
}

const out = (e: number, k: number, s: number, p: number) => Math.floor((e + 2 * p - k) / s) + 1;

function largestDivisorAtMost(n: number, max: number): number {
  for (let g = Math.min(n, max); g > 1; g--) if (n % g === 0) return g;
  return 1;
}

/** The .csn text of a drawn network, and the shape after each layer. */
function source(n: Net): { model: string } {
  let [c, t, h, w] = n.input;
  const parts: string[] = [];
  const conv = (s: ConvSpec) => {
    const thw = [t, h, w];
    let text: string;
    let cout: number;
    let k: number[];
    let p: number[];
    let stride = [...s.stride];
    switch (s.mode) {
      case "stem": {
        ({ k, p } = fit(thw, [3, 7, 7], [1, 3, 3], false));
        stride = [1, 2, 2];
        cout = s.cout;
        text = `conv(${cout}, ${dims(k)}, stride = ${dims(stride)}, pad = ${dims(p)}, bias = ${s.bias})`;
        break;
      }
      case "pointwise":
        k = [1, 1, 1];
        p = [0, 0, 0];
        cout = s.cout;
        text = `conv(${cout}, 1x1x1, stride = ${dims(stride)}, bias = ${s.bias})`;
        break;
      case "depthwise":
        ({ k, p } = fit(thw, s.kernel, s.pad, false));
        cout = c;
        text = `dwconv(${dims(k)}, stride = ${dims(stride)}, pad = ${dims(p)}, bias = ${s.bias})`;
        break;
      case "grouped":
      case "dense": {
        ({ k, p } = fit(thw, s.kernel, s.pad, false));
        const g = s.mode === "grouped" ? largestDivisorAtMost(c, s.groups) : 1;
        cout = g * s.cout;
        text = `conv(${cout}, ${dims(k)}, stride = ${dims(stride)}, pad = ${dims(p)}, groups = ${g}, bias = ${s.bias})`;
        break;
      }
    }
    c = cout;
    [t, h, w] = [0, 1, 2].map((i) => out(thw[i]!, k[i]!, stride[i]!, p[i]!)) as [
      number,
      number,
      number,
    ];
    parts.push(text + s.epilogue);
  };
  for (const l of n.layers) {
    switch (l.kind) {
      case "conv":
        conv(l);
        break;
      case "maxpool": {
        const thw = [t, h, w];
        const { k, p } = fit(thw, l.kernel, l.pad, true);
        parts.push(`maxpool(${dims(k)}, stride = ${dims(l.stride)}, pad = ${dims(p)})`);
        [t, h, w] = [0, 1, 2].map((i) => out(thw[i]!, k[i]!, l.stride[i]!, p[i]!)) as [
          number,
          number,
          number,
        ];
        break;
      }
      case "residual": {
        const cout = c + l.widen;
        const s = dims([l.stride, l.stride, l.stride]);
        const main =
          l.main === "bottleneck"
            ? `conv(${l.inner}, 1x1x1) bn relu conv(${cout}, 3x3x3, stride = ${s}) bn`
            : `conv(${cout}, 3x3x3, stride = ${s})`;
        const head = l.shortcut === "project" ? "residual(shortcut = project)" : "residual";
        const tail =
          l.shortcut === "explicit"
            ? ` shortcut { conv(${cout}, 1x1x1, stride = ${s}) bn relu }`
            : "";
        parts.push(`${head} { ${main} }${tail}${l.relu ? " relu" : ""}`);
        c = cout;
        [t, h, w] = [t, h, w].map((e) => out(e, 3, l.stride, 1)) as [number, number, number];
        break;
      }
      case "relu":
        parts.push("relu");
        break;
      case "dropout":
        parts.push("dropout(0.3)");
        break;
    }
  }
  const hd = n.head;
  if (hd.gap) parts.push("avgpool");
  if (hd.dropout) parts.push("dropout");
  parts.push(`fc(${hd.classes}, bias = ${hd.bias})`);
  if (hd.softmax) parts.push("softmax");
  return { model: `model m() {\n  input ${dims(n.input)}\n  ${parts.join("\n  ")}\n}` };
}

// ---- the properties

const layerList = (arb: fc.Arbitrary<LayerSpec>, min: number, max: number) =>
  fc.array(arb, { minLength: min, maxLength: max });

/** A network with every training kernel family and gradient store, run first everywhere. */
const everyKernel: Net = {
  input: [3, 2, 5, 5],
  batch: 2,
  layers: [
    {
      kind: "conv",
      mode: "stem",
      kernel: [3, 7, 7],
      stride: [1, 2, 2],
      pad: [1, 3, 3],
      cout: 4,
      groups: 1,
      bias: false,
      epilogue: " bn relu",
    },
    { kind: "maxpool", kernel: [1, 3, 3], stride: [1, 2, 2], pad: [0, 1, 1] },
    { kind: "relu" },
    {
      kind: "residual",
      main: "bottleneck",
      inner: 2,
      widen: 0,
      stride: 1,
      shortcut: "auto",
      relu: true,
    },
    {
      kind: "residual",
      main: "plain",
      inner: 1,
      widen: 0,
      stride: 1,
      shortcut: "auto",
      relu: true,
    },
    {
      kind: "conv",
      mode: "dense",
      kernel: [3, 3, 3],
      stride: [1, 1, 1],
      pad: [1, 1, 1],
      cout: 3,
      groups: 1,
      bias: true,
      epilogue: " relu",
    },
  ],
  head: { gap: true, dropout: true, classes: 3, bias: true, softmax: true },
  fold: false,
};

const properties: [string, fc.Arbitrary<Net>, { llvmpipe: number; swiftshader: number }][] = [
  [
    "convs (dense, grouped, depthwise, 1x1x1, a 3x7x7 stem) with bias and bn / relu epilogues",
    net(layerList(convSpec, 1, 3), headSpec(true)),
    { llvmpipe: 14, swiftshader: 3 },
  ],
  [
    "residual blocks: identity, automatic and forced projections, explicit shortcuts, bn+add+relu",
    net(
      fc
        .tuple(
          fc.option(
            convSpec.map((s) => ({ ...s, epilogue: " bn relu" as const })),
            { nil: undefined },
          ),
          layerList(residualSpec, 1, 2),
        )
        .map(([first, rest]) => (first ? [first, ...rest] : rest)),
      headSpec(true),
    ),
    { llvmpipe: 14, swiftshader: 3 },
  ],
  [
    "max pooling with padding, standalone relu, dropout as the identity, fc heads and softmax",
    net(
      layerList(
        fc.oneof(
          { arbitrary: poolSpec, weight: 3 },
          { arbitrary: simpleSpec, weight: 1 },
          { arbitrary: convSpec, weight: 1 },
        ),
        1,
        3,
      ),
    ),
    { llvmpipe: 14, swiftshader: 3 },
  ],
  [
    "stem-like networks: 3x7x7 stride 1x2x2, bn relu, a 1x3x3 max pool, a block, the head",
    net(
      fc
        .tuple(
          convSpec.map((s) => ({ ...s, mode: "stem" as const, epilogue: " bn relu" as const })),
          fc.constant<PoolSpec>({
            kind: "maxpool",
            kernel: [1, 3, 3],
            stride: [1, 2, 2],
            pad: [0, 1, 1],
          }),
          fc.oneof(residualSpec, convSpec),
        )
        .map((l) => [...l]),
      headSpec(true),
    ),
    { llvmpipe: 8, swiftshader: 2 },
  ],
  [
    "random mixes of every layer",
    net(
      layerList(
        fc.oneof(convSpec, convSpec, poolSpec, residualSpec, residualSpec, simpleSpec),
        1,
        4,
      ),
    ),
    { llvmpipe: 14, swiftshader: 3 },
  ],
  [
    "frozen layers (--freeze): no update, the gradients of the others unchanged",
    fc
      .tuple(
        net(layerList(fc.oneof(convSpec, poolSpec, residualSpec, simpleSpec), 1, 3)),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
      )
      .map(([n, freeze]) => ({ ...n, freeze })),
    { llvmpipe: 8, swiftshader: 1 },
  ],
];

/** Every kernel family a run drew, with the gradient stores (=, =m, +, +m) it wrote with. */
const seen = new Map<Backend, Set<string>>();
/** The largest share of its tolerance one tensor used, per backend. */
const worst = new Map<Backend, { share: number; where: string }>();

const families = [
  "conv-forward",
  "conv-backward-data",
  "conv-backward-weight",
  "channel-sum",
  "bn-statistics",
  "bn-normalise",
  "bn-backward-reduce",
  "bn-backward-apply",
  "bn-running-update",
  "maxpool-forward",
  "maxpool-backward",
  "global-avgpool-forward",
  "global-avgpool-backward",
  "fc-forward",
  "fc-backward-weight",
  "fc-backward-data",
  "softmax-cross-entropy",
  "relu",
  "add",
  "pass-gradient",
  "sgd",
];
const stores = ["=", "=m", "+", "+m"];

async function check(
  backend: Backend,
  n: Net,
  caseSeed: number,
  nonFinite: boolean,
): Promise<void> {
  const { model } = source(n);
  const graph = buildGraph(model, { batch: n.batch });
  const layers = graph.nodes.filter((x) => ["conv", "bn", "fc"].includes(x.op.kind));
  const freeze = layers.filter((_, i) => n.freeze?.[i]).map((x) => x.path);
  const m = await checkTraining(backend, {
    graph,
    seed: caseSeed,
    evalClips: n.batch > 1 ? 1 : undefined,
    fold: n.fold,
    freeze,
  });
  // One class: llvmpipe computes the loss of a NaN logit as 0 (see checkNonFiniteStep).
  if (nonFinite && n.head.classes > 1)
    await checkNonFiniteStep(backend, { graph, seed: caseSeed, fold: n.fold, freeze }, m);
  const got = seen.get(backend) ?? new Set<string>();
  seen.set(backend, got);
  for (const k of m.kernels) {
    const words = k.split(" ");
    got.add(words[0]!);
    const tag = words.at(-1)!;
    if (stores.includes(tag)) got.add(`store ${tag}`);
  }
  const w = worst.get(backend);
  if (!w || m.worst > w.share)
    worst.set(backend, { share: m.worst, where: `${m.worstName} of\n${model} (batch ${n.batch})` });
  expect(
    m.lines,
    `${model}\n(batch ${n.batch}, weight seed ${caseSeed}${n.fold ? ", folded grids" : ""}${freeze.length ? `, frozen ${freeze.join(" ")}` : ""}) on ${backend}:\n${m.lines.join("\n")}`,
  ).toEqual([]);
}

for (const backend of ["llvmpipe", "swiftshader"] as const) {
  describe(`training kernels against the float64 reference on ${backend} (seed ${seed})`, () => {
    for (const [name, arbitrary, runs] of properties) {
      const numRuns = runs[backend] * scale;
      // The first property also runs the network of every kernel, and on SwiftShader (10x
      // slower) it alone checks the non-finite step.
      const first = name === properties[0]![0];
      it(
        `${name} (${numRuns} runs)`,
        async () => {
          await fc.assert(
            fc.asyncProperty(arbitrary, fc.integer({ min: 1, max: 1 << 20 }), (n, s) =>
              check(backend, n, s, backend === "llvmpipe" || first),
            ),
            {
              seed,
              numRuns,
              endOnFailure: true,
              examples: first ? [[everyKernel, 1]] : [],
            },
          );
        },
        60_000 + numRuns * 20_000,
      );
    }
    it("drew every training kernel family and gradient store", () => {
      const got = seen.get(backend) ?? new Set<string>();
      const missing = [...families, ...stores.map((t) => `store ${t}`)].filter((f) => !got.has(f));
      expect(missing, `never drawn on ${backend}`).toEqual([]);
      const w = worst.get(backend)!;
      console.log(
        `${backend}: the closest call used ${(100 * w.share).toFixed(1)}% of its tolerance: ${w.where}`,
      );
    });
  });
}

describe(`the training memory plan (seed ${seed})`, () => {
  it("shares no slot within a step, overlaps no lifetimes, and never costs more than unshared", () => {
    fc.assert(
      fc.property(
        net(layerList(fc.oneof(convSpec, poolSpec, residualSpec, residualSpec, simpleSpec), 1, 6)),
        (n) => {
          const { model } = source(n);
          const graph = buildGraph(model, { batch: n.batch });
          const program = buildTrainProgram(graph, { limits: unlimitedLimits, dropout: false });
          const m = new Mismatches();
          checkMemoryPlan(program, m);
          expect(m.lines, `${model}\n(batch ${n.batch}):\n${m.lines.join("\n")}`).toEqual([]);
        },
      ),
      { seed, numRuns: 150 * scale },
    );
  });
});

// Found by these properties and by review (each failed before its fix).
describe("regressions", () => {
  it.each([
    [
      "a hidden fc + relu",
      "model m() {\n  input 2 x 1 x 2 x 2\n  avgpool\n  fc(3) relu\n  fc(2)\n}",
    ],
    [
      "fc then relu on one value",
      "model m() {\n  input 1 x 1 x 1 x 2\n  avgpool\n  fc(1, bias = false) relu\n  fc(2, bias = false)\n}",
    ],
    // Found by review: a ReLU no layer before it takes in (after a pool) kept no mask, and
    // logits that are a ReLU's output took the loss's gradient unmasked.
    [
      "a ReLU after a pool",
      "model m() {\n  input 2 x 2 x 3 x 3\n  conv(3, 1x1x1)\n  maxpool(1x1x1)\n  relu\n  avgpool\n  fc(2)\n}",
    ],
    [
      "logits that are a ReLU's output",
      "model m() {\n  input 2 x 2 x 2 x 2\n  avgpool\n  fc(3)\n  relu\n}",
    ],
  ])("%s matches the reference", async (_, source) => {
    const m = await checkTraining("llvmpipe", { graph: buildGraph(source, { batch: 2 }), seed: 5 });
    expect(m.lines).toEqual([]);
  });
});
