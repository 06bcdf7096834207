// The variants a tuner may time for one step: every family variant (tiles, buffer or texture
// storage) that can run it on these limits, the adapter class's default first. select.ts stays
// the one place that decides feasibility: a candidate is kept only if `generate` makes it.
import type { InferenceNode } from "../inference.js";
import type { GemmTile, HaloTile, KernelChoice, SplitKTile, Storage } from "./choice.js";
import type { Kernel, KernelLimits } from "./common.js";
import { directChannelTile } from "./conv-direct.js";
import { pointwiseTiles } from "./conv-pointwise.js";
import {
  convSpec,
  convTextures,
  convVariant,
  defaultChoice,
  generate,
  poolSpec,
  poolTexture,
  texturable,
  type ClipLayout,
} from "./select.js";
import { policyOf, type Tuning } from "./tuning.js";

/** A step's candidate: the choice and the kernel it generates. */
export interface Candidate {
  readonly choice: KernelChoice;
  readonly kernel: Kernel;
}

const depthwiseSides = [1, 2, 4, 7, 8];

// The workgroup-memory variants' tiles (conv-gemm.ts and the others): GPU shapes, 64 or 128
// invocations a workgroup, 4x4 to 8x8 outputs an invocation (tm x 4*tn), within 16 KiB.
const gemmTiles: GemmTile[] = [
  { wm: 8, wn: 8, tm: 8, tn: 2, bk: 2 }, // 64 x 64 outputs
  { wm: 8, wn: 8, tm: 8, tn: 2, bk: 4 }, // 64 x 64, K slices of 16 channels: 16 KiB
  { wm: 16, wn: 8, tm: 8, tn: 2, bk: 2 }, // 128 x 64
  { wm: 16, wn: 8, tm: 4, tn: 2, bk: 2 }, // 64 x 64, 4x8 an invocation
  { wm: 8, wn: 8, tm: 4, tn: 1, bk: 4 }, // 32 x 32
];
const implicitGemmTiles: GemmTile[] = [
  { wm: 16, wn: 8, tm: 4, tn: 2, bk: 8 }, // 64 x 64
  { wm: 8, wn: 8, tm: 8, tn: 2, bk: 8 }, // 64 x 64, 8x8 an invocation
  { wm: 8, wn: 8, tm: 4, tn: 1, bk: 16 }, // 32 x 32
];
const splitKTiles: SplitKTile[] = [
  { rows: 4, cols: 1, split: 64 },
  { rows: 2, cols: 2, split: 64 },
  { rows: 4, cols: 2, split: 32 },
  { rows: 8, cols: 2, split: 16 },
];
const haloTiles: HaloTile[] = [
  { th: 8, tw: 8, cg: 1 },
  { th: 7, tw: 7, cg: 2 },
  { th: 4, tw: 8, cg: 2 },
  { th: 4, tw: 4, cg: 4 },
  { th: 2, tw: 8, cg: 4 },
];

/** The workgroup-memory variants of a conv of `layout` (the subgroup ones where the device has them). */
function workgroupChoices(
  layout: string,
  storage: Storage,
  limits: KernelLimits,
  maxTileArea: number,
): KernelChoice[] {
  // Their per-invocation tiles are GPU register tiles: bounded as the pointwise tile is, but
  // never below 16 (8 rows x 2 vec4), the smallest a GPU-grade GEMM tile is worth timing.
  const area = Math.max(16, maxTileArea);
  const small = (t: GemmTile) => t.tm * t.tn <= area;
  if (layout === "pointwise")
    return [
      ...gemmTiles.filter(small).map((tile) => ({ family: "conv-gemm", storage, tile }) as const),
      ...splitKTiles.flatMap((tile) =>
        [false, ...(limits.subgroups === true ? [true] : [])].map(
          (subgroups) =>
            ({
              family: "conv-pointwise-splitk",
              storage,
              tile,
              ...(subgroups ? { subgroups } : {}),
            }) as const,
        ),
      ),
    ];
  if (layout === "direct")
    return implicitGemmTiles
      .filter(small)
      .map((tile) => ({ family: "conv-implicit-gemm", storage, tile }) as const);
  if (layout === "depthwise")
    return haloTiles.map((tile) => ({ family: "conv-depthwise-halo", storage, tile }) as const);
  return [];
}
const directWidths = [1, 2, 4, 8, 14, 28, 56];
const directGroups = [1, 2, 4, 8];

/** The storages a conv may read: the clip's readers read it as it was laid out for all of them. */
function storages(input: InferenceNode, clip: ClipLayout): Storage[] {
  if (input.op.kind === "input" && clip !== "nthwc")
    return [clip === "texture" ? "texture" : "buffer"];
  return ["buffer", "texture"];
}

function convChoices(
  node: InferenceNode,
  input: InferenceNode,
  limits: KernelLimits,
  clip: ClipLayout,
  maxTileArea: number,
): KernelChoice[] {
  if (node.op.kind !== "conv") return [];
  const s = convSpec(node, input, clip);
  const layout = convVariant(node.op.conv, s.cin);
  const ok = (storage: Storage) =>
    storage === "buffer" || (texturable(s, layout) && convTextures(s, limits) !== undefined);
  const out: KernelChoice[] = [];
  for (const storage of storages(input, clip).filter(ok)) {
    if (layout === "pointwise")
      for (const tile of pointwiseTiles(s).filter((t) => t.rows * t.cols <= maxTileArea))
        out.push({ family: "conv-pointwise", storage, tile });
    if (layout === "depthwise")
      for (const th of depthwiseSides.filter((x) => x <= s.output[1]))
        for (const tw of depthwiseSides.filter((x) => x <= s.output[2]))
          out.push({ family: "conv-depthwise", storage, tile: { th, tw } });
    if (layout === "direct")
      for (const tw of directWidths.filter((x) => x <= s.output[2]))
        for (const cot of new Set(directGroups.map((c) => directChannelTile(s, c))))
          // The register tile grows with both; bound it as the pointwise tile is bounded.
          if (tw * cot <= 8 * maxTileArea)
            out.push({ family: "conv-direct", storage, tile: { tw, cot } });
    out.push(...workgroupChoices(layout, storage, limits, maxTileArea));
  }
  return out;
}

function poolChoices(node: InferenceNode, input: InferenceNode, limits: KernelLimits) {
  if (node.op.kind !== "maxpool" && node.op.kind !== "avgpool") return [];
  const s = poolSpec(node, input);
  const border = s.kind === "avgpool" && s.pad.some((x) => x > 0);
  const out: KernelChoice[] = [{ family: "pool", storage: "buffer" }];
  if (poolTexture(s, limits, border))
    out.push({ family: "pool", storage: "texture", ...(border ? { border } : {}) });
  return out;
}

/** Global average pooling split across a workgroup (the subgroup reduction where the device has it). */
function globalPoolChoices(node: InferenceNode, limits: KernelLimits): KernelChoice[] {
  if (node.op.kind !== "global_avgpool") return [];
  return [64, 256].flatMap((threads) =>
    [false, ...(limits.subgroups === true ? [true] : [])].map(
      (subgroups) =>
        ({
          family: "global-avgpool-reduce",
          threads,
          ...(subgroups ? { subgroups } : {}),
        }) as const,
    ),
  );
}

/** JSON with sorted keys: a choice read from a file may list its fields in any order. */
const canonical = (x: unknown): string =>
  x !== null && typeof x === "object"
    ? `{${Object.keys(x)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${canonical((x as Record<string, unknown>)[k])}`)
        .join(",")}}`
    : JSON.stringify(x);
/** Whether two choices are the same variant, whatever the order of their fields. */
export const sameChoice = (a: KernelChoice, b: KernelChoice) => canonical(a) === canonical(b);

/**
 * The choices a tuner may time for `node` (whose first input is `input`), the default for
 * `tuning` first, each once, not yet checked by `generate`. Tile areas stop at the policy's
 * `maxTileArea` (big tiles compile for minutes on SwiftShader).
 */
export function candidateChoices(
  node: InferenceNode,
  input: InferenceNode,
  limits: KernelLimits,
  clip: ClipLayout,
  tuning: Tuning = {},
): KernelChoice[] {
  const p = policyOf(tuning);
  const area = p.maxTileArea;
  const all = [
    defaultChoice(node, input, limits, p, clip),
    ...convChoices(node, input, limits, clip, area),
    ...poolChoices(node, input, limits),
    ...globalPoolChoices(node, limits),
  ];
  return all.filter((c, i) => all.findIndex((d) => sameChoice(c, d)) === i);
}

/**
 * Whether a measured choice (a tuning file's, checked only for its form) is one the tuner could
 * have chosen for this step: a file never makes the compiler generate a variant it would not.
 */
export function admissible(
  choice: KernelChoice,
  node: InferenceNode,
  input: InferenceNode,
  limits: KernelLimits,
  clip: ClipLayout,
  tuning: Tuning = {},
): boolean {
  return candidateChoices(node, input, limits, clip, tuning).some((c) => sameChoice(c, choice));
}

/** Every variant that can run the step, as `candidateChoices` lists them, with its kernel. */
export function candidates(
  node: InferenceNode,
  input: InferenceNode,
  limits: KernelLimits,
  clip: ClipLayout,
  tuning: Tuning = {},
): Candidate[] {
  const out: Candidate[] = [];
  for (const choice of candidateChoices(node, input, limits, clip, tuning)) {
    try {
      out.push({ choice, kernel: generate(node, input, limits, choice, clip) });
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith("csnc bug")) throw e;
    }
  }
  return out;
}
