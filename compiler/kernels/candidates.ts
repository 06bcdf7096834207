// The variants a tuner may time for one step: every family variant (tiles, buffer or texture
// storage) that can run it on these limits, the adapter class's default first. select.ts stays
// the one place that decides feasibility: a candidate is kept only if `generate` makes it.
import type { InferenceNode } from "../inference.js";
import type { KernelChoice, Storage } from "./choice.js";
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

const sameChoice = (a: KernelChoice, b: KernelChoice) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Every variant that can run `node` (whose first input is `input`), the default for `tuning`
 * first, each once. Tile areas stop at the policy's `maxTileArea` (big tiles compile for minutes
 * on SwiftShader) or `maxTileArea` if given.
 */
export function candidates(
  node: InferenceNode,
  input: InferenceNode,
  limits: KernelLimits,
  clip: ClipLayout,
  tuning: Tuning = {},
  maxTileArea?: number,
): Candidate[] {
  const p = policyOf(tuning);
  const area = maxTileArea ?? p.maxTileArea;
  const first = defaultChoice(node, input, limits, p, clip);
  const all = [
    first,
    ...convChoices(node, input, limits, clip, area),
    ...poolChoices(node, input, limits),
  ];
  const out: Candidate[] = [];
  for (const choice of all) {
    if (out.some((c) => sameChoice(c.choice, choice))) continue;
    try {
      out.push({ choice, kernel: generate(node, input, limits, choice, clip) });
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith("csnc bug")) throw e;
    }
  }
  return out;
}
