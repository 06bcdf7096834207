// Property-based differential tests: every kernel family and variant, on both CPU adapters,
// against the float64 reference executor over random shapes. Hand-picked shapes once hid a
// wrong answer (a single staged plane, N x T = 1, copied outside its zero border), so the
// shapes here are drawn, with size-1 dimensions, odd sizes, channel counts that are not a
// multiple of 4, every stride and padding the language allows, and grids folded past a
// lowered workgroup limit.
//
// CI runs a fixed seed. CSNC_FUZZ_RUNS=<n> draws n cases per property (default 10);
// CSNC_FUZZ_SEED=<n> changes the seed; a failure prints the seed, the path and the .csn model.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileGraph } from "../compiler/compile.js";
import { unlimitedLimits, type KernelLimits } from "../compiler/kernels/common.js";
import type { Tuning } from "../compiler/kernels/select.js";
import type { Backend } from "../runtime/adapter-node.js";
import { buildGraph, differential } from "./gpu.js";

function envInt(name: string, fallback: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`${name} must be an integer from 1 to ${max}, got '${text}'`);
  return n;
}

const numRuns = envInt("CSNC_FUZZ_RUNS", 10, 100_000);
const seed = envInt("CSNC_FUZZ_SEED", 20261201, 2 ** 31 - 1);
const backends: Backend[] = ["swiftshader", "opengles"];

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

// Sizes: 1 comes up often, since size-1 dimensions are where indexing bugs hide.
const size = (max = 9) =>
  fc.oneof(
    { arbitrary: fc.constant(1), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max }), weight: 3 },
  );
const batch = fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3 }));
/** Any channel count (scalar variants), or a multiple of 4 (vec4 variants). */
const anyChannels = fc.integer({ min: 1, max: 13 });
const vecChannels = fc.integer({ min: 1, max: 6 }).map((k) => 4 * k);
const dims = (d: readonly number[]) => d.join("x");

/**
 * A C x W pair a staging texture accepts: C a multiple of 4 and W x C a multiple of 64
 * (copyBufferToTexture's 256-byte rows).
 */
const textureCW = fc.constantFrom(16, 32, 64).chain((c) =>
  fc.tuple(
    fc.constant(c),
    size(c === 64 ? 9 : 3).map((k) => (c === 64 ? k : k * (64 / c))),
  ),
);

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
        s: fc.integer({ min: 1, max: 3 }),
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
  return fc
    .tuple(axis(thw[0]!), axis(thw[1]!), axis(thw[2]!))
    .map((a) => ({ kernel: a.map((x) => x.k), stride: a.map((x) => x.s), pad: a.map((x) => x.p) }));
}

const windowText = (w: Window) =>
  `${dims(w.kernel)}, stride = ${dims(w.stride)}, pad = ${dims(w.pad)}`;

const spatialInput = (c: number) =>
  fc.tuple(fc.constant(c), size(), size(), size()) as fc.Arbitrary<
    [number, number, number, number]
  >;

/** Pointwise tiles: the small-M variant up to the largest register tile. */
const pointwiseTuning = fc.record({
  minInvocations: fc.constantFrom(1, 100, 4096, 1e9),
  maxTileArea: fc.constantFrom(1, 8, 32, 128),
});

const families: Record<string, (textures: boolean) => fc.Arbitrary<Case>> = {
  "pointwise 1x1x1": (textures) =>
    fc
      .record({
        cw: textures ? textureCW : fc.tuple(anyChannels, size()),
        t: size(),
        h: size(),
        cout: textures ? vecChannels : anyChannels,
        stride: fc.tuple(
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 3 }),
        ),
        strided: fc.boolean(),
        epilogue: fc.constantFrom("", " relu", " bn", " bn relu"),
        batch,
        tuning: pointwiseTuning,
        fold: fc.boolean(),
      })
      .map((r) => {
        const stride = r.strided ? r.stride : [1, 1, 1];
        const strided = stride.some((s) => s > 1);
        return {
          input: [r.cw[0], r.t, r.h, r.cw[1]],
          batch: r.batch,
          body: `conv(${r.cout}, 1x1x1, stride = ${dims(stride)})${r.epilogue}`,
          kernel: new RegExp(
            `^conv-pointwise${strided ? "-strided" : ""}${textures ? "-tex" : ""}-`,
          ),
          tuning: { ...r.tuning, textures },
          fold: r.fold,
        };
      }),

  depthwise: (textures) =>
    fc
      .record({
        cw: textures ? textureCW : fc.tuple(anyChannels, size()),
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
          // With one channel a depthwise conv is a dense one.
          kernel:
            r.cw[0] === 1
              ? /^conv-direct-/
              : new RegExp(`^conv-depthwise${textures ? "-tex" : ""}-`),
          tuning: { depthwiseTile: r.tile, textures },
          fold: r.fold,
        })),
      ),

  // Dense and grouped convs: read channels-first from the clip (the stem) or channels-last
  // after another layer.
  direct: (textures) =>
    fc
      .record({
        clip: fc.boolean(),
        clipChannels: fc.integer({ min: 1, max: 4 }),
        groups: fc.integer({ min: 1, max: 3 }),
        perGroupIn: textures
          ? vecChannels.map((c) => Math.min(c, 8))
          : fc.integer({ min: 1, max: 5 }),
        perGroupOut: textures
          ? vecChannels.map((c) => Math.min(c, 8))
          : fc.integer({ min: 1, max: 6 }),
        t: size(6),
        h: size(7),
        w: size(7),
        batch,
        tile: fc.record({
          tw: fc.integer({ min: 1, max: 8 }),
          cot: fc.integer({ min: 1, max: 4 }),
        }),
        minInvocations: fc.constantFrom(1, 4096),
        bias: fc.boolean(),
        fold: fc.boolean(),
      })
      .chain((r) => {
        // From the clip: at most 4 input channels, one group (as the texture variant needs).
        const clip = r.clip;
        const groups = clip ? 1 : r.groups;
        const cin = clip ? r.clipChannels : groups * r.perGroupIn;
        let w = r.w;
        // A staged input must fill whole 256-byte rows.
        if (textures && !clip) w = (64 / gcd(64, cin)) * Math.ceil(w / (64 / gcd(64, cin)));
        const cout = groups * r.perGroupOut;
        return windowOver([r.t, r.h, w], false, 4).map((win) => ({
          input: [cin, r.t, r.h, w] as const,
          batch: r.batch,
          body: `${clip ? "" : "relu "}conv(${cout}, ${windowText(win)}, groups = ${groups}, bias = ${r.bias})`,
          kernel: textures
            ? new RegExp(`^conv-direct-tex${clip ? "-clip" : ""}-`)
            : new RegExp(`^conv-direct${clip ? "-ncthw" : ""}-`),
          tuning: { directTile: r.tile, minInvocations: r.minInvocations, textures },
          fold: r.fold,
        }));
      })
      // 1x1x1 unpadded ungrouped convs are pointwise, and C_in = groups = C_out is depthwise.
      .filter((c) => !/conv\(\d+, 1x1x1, stride = [\dx]+, pad = 0x0x0, groups = 1,/.test(c.body))
      .filter((c) => {
        const m = /conv\((\d+), .*groups = (\d+)/.exec(c.body)!;
        const groups = Number(m[2]);
        return !(groups > 1 && groups === c.input[0] && Number(m[1]) === groups);
      }),

  "max and average pooling": (textures) =>
    fc
      .record({
        cw: textures ? textureCW : fc.tuple(anyChannels, size()),
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
          kernel: new RegExp(`^${r.kind}${textures ? "-tex" : ""}-`),
          tuning: { textures },
          fold: r.fold,
        })),
      ),

  "global average pooling, fc and softmax": () =>
    fc
      .record({
        input: spatialInput(1).chain(([, t, h, w]) =>
          anyChannels.map((c) => [c, t, h, w] as [number, number, number, number]),
        ),
        batch,
        classes: fc.integer({ min: 1, max: 17 }),
        head: fc.constantFrom(
          (k: number) => `avgpool fc(${k})`,
          (k: number) => `fc(${k})`,
          (k: number) => `avgpool fc(${k}) softmax`,
          (k: number) => `relu avgpool fc(${k}, bias = false)`,
        ),
        fold: fc.boolean(),
      })
      .map((r) => ({
        input: r.input,
        batch: r.batch,
        body: r.head(r.classes),
        kernel: /^fc-/,
        fold: r.fold,
      })),

  "elementwise bn, relu, add": () =>
    fc
      .record({
        input: spatialInput(1),
        c: anyChannels,
        batch,
        relu: fc.boolean(),
        fold: fc.boolean(),
      })
      .map((r) => ({
        input: [r.c, r.input[1], r.input[2], r.input[3]] as const,
        batch: r.batch,
        // Nothing to fuse into: bn, relu and the add each get their own kernel.
        body: `residual { relu bn }${r.relu ? " relu" : ""}`,
        kernel: r.relu ? /^add-relu-/ : /^add-(vec4|scalar)/,
        fold: r.fold,
      })),

  // A bottleneck: epilogues with the residual add fused into the last conv, identity or projected.
  "fused residual block": (textures) =>
    fc
      .record({
        cw: textures ? textureCW : fc.tuple(anyChannels, size()),
        t: size(),
        h: size(),
        inner: textures ? vecChannels : anyChannels,
        project: fc.boolean(),
        stride: fc.integer({ min: 1, max: 2 }),
        batch,
        fold: fc.boolean(),
      })
      .map((r) => {
        const cout = r.project ? r.cw[0] * 2 : r.cw[0];
        const stride = r.project ? r.stride : 1;
        return {
          input: [r.cw[0], r.t, r.h, r.cw[1]] as const,
          batch: r.batch,
          body: `residual { conv(${r.inner}, 1x1x1) bn relu dwconv(stride = ${stride}) bn relu conv(${cout}, 1x1x1) bn } relu`,
          kernel: textures ? /^conv-pointwise(-strided)?-tex-/ : /^conv-pointwise/,
          tuning: { textures },
          fold: r.fold,
        };
      }),
};

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

const modelText = (c: Case) => `model m() { input ${dims(c.input)}  ${c.body} }`;

/** Lowers the workgroups per dimension so the largest grid must fold into two dimensions. */
function foldingLimits(c: Case): Partial<KernelLimits> | undefined {
  if (!c.fold) return undefined;
  const graph = buildGraph(modelText(c), { batch: c.batch });
  const plan = compileGraph(graph, unlimitedLimits, c.tuning);
  const largest = Math.max(...plan.dispatches.map((d) => d.workgroups[0] * d.workgroups[1]));
  if (largest < 3) return undefined; // 2 workgroups cannot fold into a smaller square
  return { maxComputeWorkgroupsPerDimension: Math.max(1, Math.ceil(Math.sqrt(largest))) };
}

async function check(backend: Backend, c: Case): Promise<void> {
  const graph = buildGraph(modelText(c), { batch: c.batch });
  const limits = foldingLimits(c);
  const r = await differential(backend, graph, { tuning: c.tuning, limits });
  const kernels = r.plan.dispatches.map((d) => d.kernel);
  const what = `${modelText(c)} (batch ${c.batch}, tuning ${JSON.stringify(c.tuning ?? {})}, limits ${JSON.stringify(limits ?? {})}); kernels ${kernels.join(" ")}`;
  expect(
    kernels.some((k) => c.kernel.test(k)),
    `no kernel matches ${c.kernel}: ${what}`,
  ).toBe(true);
  if (limits)
    expect(
      r.plan.dispatches.some((d) => d.workgroups[1] > 1),
      `no folded grid: ${what}`,
    ).toBe(true);
  expect(r.error, what).toBeLessThan(1e-5);
}

for (const backend of backends) {
  describe(`property-based differential tests on ${backend} (seed ${seed}, ${numRuns} runs each)`, () => {
    for (const [family, arbitrary] of Object.entries(families)) {
      // Texture variants are what llvmpipe runs; both adapters must compute them right.
      const variants = [
        "pointwise 1x1x1",
        "depthwise",
        "direct",
        "max and average pooling",
        "fused residual block",
      ].includes(family)
        ? [false, true]
        : [false];
      for (const textures of variants) {
        it(`${family}${textures ? ", texture inputs" : ""}`, async () => {
          await fc.assert(
            fc.asyncProperty(arbitrary(textures), (c) => check(backend, c)),
            { seed, numRuns, endOnFailure: true },
          );
        }, 600_000);
      }
    }
  });
}
