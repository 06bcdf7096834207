// Property-based differential tests: every kernel family and variant, on both CPU adapters,
// against the float64 reference executor over random shapes. Hand-picked shapes once hid a
// wrong answer (a single staged plane, N x T = 1, copied outside its zero border), so the
// shapes here are drawn, with size-1 dimensions, odd sizes, channel counts that are not a
// multiple of 4, every stride and padding the language allows, and grids folded past a
// lowered workgroup limit. Each variant (family x buffer/texture input x vec4/scalar) is its
// own property and every drawn case must be compiled to that variant, so none is left to luck.
//
// CI runs a fixed seed. CSNC_FUZZ_RUNS=<n> draws n cases per property (default 6);
// CSNC_FUZZ_SEED=<n> changes the seed; a failure prints the seed, the path and the .csn model.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileGraph } from "../compiler/compile.js";
import { unlimitedLimits, type KernelLimits } from "../compiler/kernels/common.js";
import type { Tuning } from "../compiler/kernels/tuning.js";
import type { Precision } from "../compiler/kernels/format.js";
import type { Backend } from "../runtime/adapter-node.js";
import { testBackends } from "./backends.js";
import { buildGraph, differential } from "./gpu.js";

function envInt(name: string, fallback: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`${name} must be an integer from 1 to ${max}, got '${text}'`);
  return n;
}

const numRuns = envInt("CSNC_FUZZ_RUNS", 6, 100_000);
const seed = envInt("CSNC_FUZZ_SEED", 20261201, 2 ** 31 - 1);
const backends = testBackends();

/** A drawn case: a model body on an input, with the kernel the plan must pick for it. */
interface Case {
  readonly input: readonly [number, number, number, number];
  readonly batch: number;
  readonly body: string;
  /** A pattern some dispatch's kernel name must match, so the variant is really exercised. */
  readonly kernel: RegExp;
  readonly tuning?: Tuning;
  /** Fold every grid into two dimensions by lowering the workgroups per dimension. */
  readonly fold?: boolean;
}

/** What a property draws: buffer or texture inputs, and vec4 or scalar channel counts. */
interface Variant {
  readonly textures: boolean;
  readonly vec: boolean;
  /** `--precision f16-storage`: activations and weights stored as halves. */
  readonly half?: boolean;
}

// Sizes: 1 comes up often, since size-1 dimensions are where indexing bugs hide.
const size = (max = 9) =>
  fc.oneof(
    { arbitrary: fc.constant(1), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max }), weight: 3 },
  );
const batch = fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3 }));
/** Channel counts of the vec4 variants (multiples of 4) or of the scalar ones (any other). */
const channels = (vec: boolean, max = 24) =>
  vec
    ? fc.integer({ min: 1, max: max / 4 }).map((k) => 4 * k)
    : fc.integer({ min: 1, max: max / 2 }).filter((c) => c % 4 !== 0);
const dims = (d: readonly number[]) => d.join("x");
const stride = fc.integer({ min: 1, max: 3 });
const vecName = (vec: boolean) => (vec ? "vec4" : "scalar");

/** Floats a staged row must hold a multiple of: 256 bytes (copyBufferToTexture's rule). */
const rowUnit = (v: Variant) => (v.half ? 128 : 64);

/**
 * A C x W pair a staging texture accepts: C a multiple of 4 and W x C a multiple of 64
 * (copyBufferToTexture's 256-byte rows; 128 for halves).
 */
const textureCW = (v: Variant) =>
  fc.constantFrom(16, 32, 64).chain((c) =>
    fc.tuple(
      fc.constant(c),
      size(c === 64 ? 9 : 3).map((k) => k * Math.max(1, rowUnit(v) / c)),
    ),
  );
/** C x W of an input: staged (textures), or any width with vec4 or scalar channels. */
const inputCW = (v: Variant) => (v.textures ? textureCW(v) : fc.tuple(channels(v.vec), size()));

interface Window {
  readonly kernel: number[];
  readonly stride: number[];
  readonly pad: number[];
}

/**
 * A window over spatial input `thw`: kernel 1-5, stride 1-3, padding 0 up to the kernel (convs)
 * or up to half of it (pools, the language's rule), raised where the window would not fit.
 */
function windowOver(thw: readonly number[], pool: boolean, maxKernel = 5): fc.Arbitrary<Window> {
  const axis = (extent: number) =>
    fc
      .record({
        k: fc.integer({ min: 1, max: maxKernel }),
        s: stride,
        p: fc.integer({ min: 0, max: maxKernel }),
      })
      .map(({ k, s, p }) => {
        let pad = Math.min(p, pool ? Math.floor(k / 2) : k);
        // The window must fit in the padded input; pools can only shrink the kernel.
        let kernel = k;
        if (kernel > extent + 2 * pad) {
          if (pool) kernel = extent + 2 * pad;
          else pad = Math.ceil((kernel - extent) / 2);
        }
        return { k: kernel, s, p: pad };
      });
  return fc.tuple(axis(thw[0]!), axis(thw[1]!), axis(thw[2]!)).map((a) => ({
    kernel: a.map((x) => x.k),
    stride: a.map((x) => x.s),
    pad: a.map((x) => x.p),
  }));
}

const windowText = (w: Window) =>
  `${dims(w.kernel)}, stride = ${dims(w.stride)}, pad = ${dims(w.pad)}`;

/** Pointwise tiles: the small-M variant up to the largest register tile. */
const pointwiseTuning = fc.record({
  minInvocations: fc.constantFrom(1, 100, 4096, 1e9),
  maxTileArea: fc.constantFrom(1, 8, 32, 128),
});

const pointwise = (strided: boolean) => (v: Variant) =>
  fc
    .record({
      cw: inputCW(v),
      t: size(),
      h: size(),
      // Scalar: either count not a multiple of 4 (the input's, drawn above, or the output's).
      cout: v.textures ? channels(true) : fc.oneof(channels(true), channels(false)),
      stride: fc.tuple(stride, stride, stride).filter((s) => s.some((x) => x > 1)),
      epilogue: fc.constantFrom("", " relu", " bn", " bn relu"),
      batch,
      tuning: pointwiseTuning,
      fold: fc.boolean(),
    })
    .map((r) => {
      const s = strided ? r.stride : [1, 1, 1];
      const cout = v.vec && r.cout % 4 !== 0 ? r.cout * 4 : r.cout;
      const vec = r.cw[0] % 4 === 0 && cout % 4 === 0;
      return {
        input: [r.cw[0], r.t, r.h, r.cw[1]] as const,
        batch: r.batch,
        body: `conv(${cout}, 1x1x1, stride = ${dims(s)})${r.epilogue}`,
        kernel: new RegExp(
          `^conv-pointwise${strided ? "-strided" : ""}${v.textures ? "-tex" : ""}-${vecName(vec)}-`,
        ),
        tuning: { ...r.tuning, textures: v.textures },
        fold: r.fold,
      };
    });

const depthwise = (v: Variant) =>
  fc
    .record({
      cw: inputCW(v).filter(([c]) => c > 1), // one channel makes a dense conv
      t: size(),
      h: size(),
      batch,
      tile: fc.record({ th: fc.integer({ min: 1, max: 7 }), tw: fc.integer({ min: 1, max: 7 }) }),
      epilogue: fc.constantFrom("", " relu", " bn relu"),
      fold: fc.boolean(),
    })
    .chain((r) =>
      windowOver([r.t, r.h, r.cw[1]], false).map((w) => ({
        input: [r.cw[0], r.t, r.h, r.cw[1]] as const,
        batch: r.batch,
        body: `dwconv(${windowText(w)})${r.epilogue}`,
        kernel: new RegExp(`^conv-depthwise${v.textures ? "-tex" : ""}-${vecName(v.vec)}-`),
        tuning: { depthwiseTile: r.tile, textures: v.textures },
        fold: r.fold,
      })),
    );

/**
 * Dense and grouped convs, read channels-first from the clip (the stem: at most 4 channels,
 * one group for the texture variant) or channels-last after another layer. vec4 means output
 * channels per group a multiple of 4.
 */
const direct = (clip: boolean) => (v: Variant) =>
  fc
    .record({
      // One channel often: a one-channel clip texture once multiplied the whole texel.
      clipChannels: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 4 })),
      groups: clip && v.textures ? fc.constant(1) : fc.integer({ min: 1, max: 3 }),
      perGroupIn: v.textures ? fc.constantFrom(4, 8) : fc.integer({ min: 1, max: 5 }),
      perGroupOut: v.vec ? fc.constantFrom(4, 8) : channels(false, 12),
      t: size(6),
      h: size(7),
      w: size(7),
      batch,
      tile: fc.record({ tw: fc.integer({ min: 1, max: 8 }), cot: fc.integer({ min: 1, max: 4 }) }),
      minInvocations: fc.constantFrom(1, 4096),
      bias: fc.boolean(),
      fold: fc.boolean(),
    })
    .map((r) => {
      const cin = clip ? r.clipChannels * r.groups : r.groups * r.perGroupIn;
      // A staged input must fill whole 256-byte rows.
      const unit = rowUnit(v) / gcd(rowUnit(v), cin);
      const w = v.textures && !clip ? unit * Math.ceil(r.w / unit) : r.w;
      return { ...r, cin, w, cout: r.groups * r.perGroupOut };
    })
    // 1x1x1 unpadded ungrouped convs are pointwise, C_in = groups = C_out is depthwise.
    .chain((r) =>
      windowOver([r.t, r.h, r.w], false, 4)
        .filter(
          (win) =>
            !(r.groups === 1 && win.kernel.every((k) => k === 1) && win.pad.every((p) => p === 0)),
        )
        .map((win) => ({
          input: [r.cin, r.t, r.h, r.w] as const,
          batch: r.batch,
          body: `${clip ? "" : "relu "}conv(${r.cout}, ${windowText(win)}, groups = ${r.groups}, bias = ${r.bias})`,
          kernel: v.textures
            ? new RegExp(`^conv-direct-tex${clip ? "-clip" : ""}-vec4-`)
            : new RegExp(`^conv-direct${clip ? "-ncthw" : ""}-${vecName(v.vec)}-`),
          tuning: { directTile: r.tile, minInvocations: r.minInvocations, textures: v.textures },
          fold: r.fold,
        })),
    )
    .filter((c) => !(c.input[0] > 1 && /groups = (\d+)/.exec(c.body)![1] === String(c.input[0])));

const pools = (v: Variant) =>
  fc
    .record({
      cw: inputCW(v),
      t: size(),
      h: size(),
      batch,
      kind: fc.constantFrom("maxpool", "avgpool"),
      fold: fc.boolean(),
    })
    .chain((r) =>
      windowOver([r.t, r.h, r.cw[1]], true).map((w) => ({
        input: [r.cw[0], r.t, r.h, r.cw[1]] as const,
        batch: r.batch,
        // A relu first, so the pool reads a staged activation rather than the clip.
        body: `relu ${r.kind}(${windowText(w)})`,
        kernel: new RegExp(`^${r.kind}${v.textures ? "-tex" : ""}-${vecName(v.vec)}-`),
        tuning: { textures: v.textures },
        fold: r.fold,
      })),
    );

// The head: global average pooling then fc (vec4 when its features are a multiple of 4), fc
// over the flattened C x T x H x W, softmax.
const head = (v: Variant) =>
  fc
    .record({
      c: channels(v.vec),
      t: size(),
      h: size(),
      w: size(),
      batch,
      classes: fc.integer({ min: 1, max: 17 }),
      pool: fc.boolean(),
      softmax: fc.boolean(),
      bias: fc.boolean(),
      fold: fc.boolean(),
    })
    // Without the pool the features are C x T x H x W: keep the vec4 / scalar split.
    .filter((r) => r.pool || v.vec === ((r.c * r.t * r.h * r.w) % 4 === 0))
    .map((r) => ({
      input: [r.c, r.t, r.h, r.w] as const,
      batch: r.batch,
      body: `${r.pool ? "relu avgpool " : ""}fc(${r.classes}, bias = ${r.bias})${r.softmax ? " softmax" : ""}`,
      kernel: new RegExp(`^fc-${vecName(v.vec)}$`),
      fold: r.fold,
    }));

const elementwise = (v: Variant) =>
  fc
    .record({ c: channels(v.vec), t: size(), h: size(), w: size(), batch, relu: fc.boolean() })
    .map((r) => ({
      input: [r.c, r.t, r.h, r.w] as const,
      batch: r.batch,
      // Nothing to fuse into: bn, relu and the add each get their own kernel.
      body: `residual { relu bn }${r.relu ? " relu" : ""}`,
      kernel: new RegExp(`^add${r.relu ? "-relu" : ""}-${vecName(v.vec)}$`),
      fold: r.t * r.h * r.w > 4,
    }));

// A bottleneck: epilogues with the residual add fused into the last conv, identity or projected.
const residualBlock = (v: Variant) =>
  fc
    .record({
      cw: inputCW(v),
      t: size(),
      h: size(),
      inner: channels(v.vec),
      project: fc.boolean(),
      stride: fc.integer({ min: 1, max: 2 }),
      batch,
      fold: fc.boolean(),
    })
    .map((r) => {
      const cout = r.project ? r.cw[0] * 2 : r.cw[0];
      return {
        input: [r.cw[0], r.t, r.h, r.cw[1]] as const,
        batch: r.batch,
        body: `residual { conv(${r.inner}, 1x1x1) bn relu dwconv(stride = ${r.project ? r.stride : 1}) bn relu conv(${cout}, 1x1x1) bn } relu`,
        kernel: v.textures ? /^conv-pointwise(-strided)?-tex-/ : /^conv-pointwise/,
        tuning: { textures: v.textures },
        fold: r.fold,
      };
    });

// The shape class of the llvmpipe bug: one staged plane (N = T = 1) behind a zero border.
const singlePlane = (v: Variant) =>
  fc
    .record({
      cw: textureCW(v),
      h: size(),
      dense: fc.boolean(),
      pad: fc.tuple(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 2 }),
      ),
    })
    .filter((r) => r.pad.some((p) => p > 0))
    .map((r) => {
      // A 3-tap window where the padded extent allows it (T is 1).
      const kernel = dims([1, r.h, r.cw[1]].map((e, i) => Math.min(3, e + 2 * r.pad[i]!)));
      const window = `${kernel}, pad = ${dims(r.pad)}`;
      return {
        input: [r.cw[0], 1, r.h, r.cw[1]] as const,
        batch: 1,
        body: r.dense ? `relu conv(8, ${window})` : `relu dwconv(${window})`,
        kernel: r.dense ? /^conv-direct-tex-vec4-/ : /^conv-depthwise-tex-vec4-/,
        tuning: { textures: true },
      };
    });

/** The properties: a name, the variants it is drawn in, and the case generator. */
const buffersAndTextures: Variant[] = [
  { textures: false, vec: true },
  { textures: false, vec: false },
  { textures: true, vec: true },
];
const buffersOnly: Variant[] = [
  { textures: false, vec: true },
  { textures: false, vec: false },
];
const properties: [string, readonly Variant[], (v: Variant) => fc.Arbitrary<Case>][] = [
  ["pointwise 1x1x1", buffersAndTextures, pointwise(false)],
  ["pointwise 1x1x1 strided (projections)", buffersAndTextures, pointwise(true)],
  ["depthwise", buffersAndTextures, depthwise],
  ["direct, channels-first from the clip", buffersAndTextures, direct(true)],
  ["direct, channels-last, dense and grouped", buffersAndTextures, direct(false)],
  ["max and average pooling", buffersAndTextures, pools],
  ["global average pooling, fc and softmax", buffersOnly, head],
  ["elementwise bn, relu, add", buffersOnly, elementwise],
  [
    "fused residual block",
    [
      { textures: false, vec: true },
      { textures: true, vec: true },
    ],
    residualBlock,
  ],
  [
    "a single staged plane (N x T = 1) inside a zero border",
    [{ textures: true, vec: true }],
    singlePlane,
  ],
];

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

const modelText = (c: Case) => `model m() { input ${dims(c.input)}  ${c.body} }`;

/** Lowers the workgroups per dimension so the largest grid must fold into two dimensions. */
function foldingLimits(c: Case, precision: Precision): Partial<KernelLimits> | undefined {
  if (!c.fold) return undefined;
  const graph = buildGraph(modelText(c), { batch: c.batch });
  const plan = compileGraph(graph, unlimitedLimits, c.tuning, { precision });
  const largest = Math.max(...plan.dispatches.map((d) => d.workgroups[0] * d.workgroups[1]));
  if (largest < 3) return undefined; // 2 workgroups cannot fold into a smaller square
  return { maxComputeWorkgroupsPerDimension: Math.max(1, Math.ceil(Math.sqrt(largest))) };
}

/**
 * f16 storage's error budget for these few-layer models: the input, the weights and each stored
 * activation rounded to halves (2^-11 relative each), against the float64 reference on the
 * unrounded values. An indexing or packing bug is off by O(1).
 */
const halfTolerance = 8 * 2 ** -11;
/** A kernel's name without the formats suffix halves add (format.ts, formatSuffix). */
const variantName = (kernel: string) => kernel.replace(/-h[irow]+$/, "");

async function check(backend: Backend, c: Case, half = false): Promise<void> {
  const graph = buildGraph(modelText(c), { batch: c.batch });
  const precision = half ? "f16-storage" : "f32";
  const limits = foldingLimits(c, precision);
  const r = await differential(backend, graph, { tuning: c.tuning, limits, precision });
  const kernels = r.plan.dispatches.map((d) => d.kernel);
  const what = `${modelText(c)} (batch ${c.batch}, ${precision}, tuning ${JSON.stringify(c.tuning ?? {})}, limits ${JSON.stringify(limits ?? {})}); kernels ${kernels.join(" ")}`;
  const chosen = r.plan.dispatches.find((d) => c.kernel.test(variantName(d.kernel)));
  expect(chosen, `no kernel matches ${c.kernel}: ${what}`).toBeDefined();
  // Halves really are read: the clip and the weights at least.
  if (half) expect(chosen!.kernel, `not reading halves: ${what}`).toMatch(/-h[irow]+$/);
  // The plan records the variant as data: the storage it reads is the one the tuning asked for.
  if ("storage" in chosen!.choice)
    expect(chosen!.choice.storage, what).toBe(c.tuning?.textures ? "texture" : "buffer");
  if (limits)
    expect(
      r.plan.dispatches.some((d) => d.workgroups[1] > 1),
      `no folded grid: ${what}`,
    ).toBe(true);
  const tolerance = half ? halfTolerance : 1e-5;
  expect(r.error, `logits: ${what}`).toBeLessThan(tolerance);
  expect(r.probabilitiesError, `probabilities: ${what}`).toBeLessThan(tolerance);
}

for (const backend of backends)
  for (const half of [false, true])
    describe(`property-based differential tests on ${backend}${half ? ", f16 storage" : ""} (seed ${seed}, ${numRuns} runs each)`, () => {
      for (const [family, variants, arbitrary] of properties) {
        for (const variant of variants) {
          const v = { ...variant, half };
          const name = `${family}: ${v.textures ? "texture" : "buffer"} inputs, ${vecName(v.vec)}`;
          it(
            name,
            async () => {
              await fc.assert(
                fc.asyncProperty(arbitrary(v), (c) => check(backend, c, half)),
                { seed, numRuns, endOnFailure: true },
              );
            },
            60_000 + numRuns * 10_000,
          );
        }
      }
    });
