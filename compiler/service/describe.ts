// Words for the editor: signatures of layers and blocks, a block's doc comment, shapes and counts.
import type { BlockDecl, ParamDecl } from "../../grammar/index.js";
import type { Shape } from "../ir.js";
import {
  layerAliases,
  layers,
  lookupLayer,
  residualParams,
  type LayerParam,
  type LayerSignature,
} from "../layers.js";
import { describeType, showValue } from "../values.js";

/** One parameter as completion and signature help show it. */
export interface ParamInfo {
  readonly name: string;
  /** `int`, `dims of 3 (e.g. 3x3x3) or an int`, `resnet | ip | ir | dg`; empty if undeclared. */
  readonly type: string;
  /** The default as written (`1`, `out / 4`), or how it is computed; absent: required. */
  readonly default?: string;
  readonly doc?: string;
  /** `out: int = 1`, as it reads in a signature. */
  readonly label: string;
}

export interface SignatureInfo {
  readonly name: string;
  readonly kind: "layer" | "block" | "residual";
  readonly label: string;
  readonly params: readonly ParamInfo[];
  readonly doc?: string;
}

function layerParamInfo(p: LayerParam): ParamInfo {
  const d = p.default;
  const shown =
    d === undefined
      ? undefined
      : typeof d === "function"
        ? (p.doc.match(/default:? ([^,;]+)/)?.[1] ?? "computed")
        : showValue(d);
  const type = describeType(p.type);
  return {
    name: p.name,
    type,
    default: shown,
    doc: p.doc,
    label: `${p.name}: ${p.type.kind === "dims" ? "dims" : type}${shown === undefined ? "" : ` = ${shown}`}`,
  };
}

/** The signature of a built-in layer word (or an alias of one). */
export function layerSignature(word: string): SignatureInfo | undefined {
  const sig: LayerSignature | undefined = lookupLayer(word);
  if (!sig) return undefined;
  const params = sig.params.map(layerParamInfo);
  return {
    name: word,
    kind: "layer",
    label: `${word}(${params.map((p) => p.label).join(", ")})`,
    params,
    doc: sig.doc + (word !== sig.word ? ` (another name for ${sig.word})` : ""),
  };
}

/** The built-in layer words, aliases included: what completion offers at a statement. */
export function layerWords(): string[] {
  return [...Object.keys(layers), ...Object.keys(layerAliases)];
}

const squash = (s: string) => s.replace(/\s+/g, " ").trim();

function declParamInfo(p: ParamDecl, text: string): ParamInfo {
  const type =
    p.type === undefined ? "" : p.type.kind === "named" ? p.type.name : p.type.members.join(" | ");
  const def = p.default && squash(text.slice(p.default.span.start, p.default.span.end));
  return { name: p.name, type, default: def, label: squash(text.slice(p.span.start, p.span.end)) };
}

/** The comment lines right above a declaration, without their `#`. */
export function docComment(decl: BlockDecl, text: string): string | undefined {
  const lines = text.slice(0, decl.span.start).split("\n");
  lines.pop(); // the declaration's own line, up to its keyword
  const doc: string[] = [];
  while (lines.length > 0 && /^\s*#/.test(lines.at(-1)!))
    doc.unshift(lines.pop()!.replace(/^\s*# ?/, ""));
  return doc.length ? doc.join("\n") : undefined;
}

/** A block's or model's signature; `text` is its file's. */
export function blockSignature(decl: BlockDecl, text: string): SignatureInfo {
  const params = decl.params.map((p) => declParamInfo(p, text));
  return {
    name: decl.name,
    kind: "block",
    label: `${decl.kind} ${decl.name}(${params.map((p) => p.label).join(", ")})`,
    params,
    doc: docComment(decl, text),
  };
}

/** `residual(...)`'s signature, from the layer table's parameters. */
export function residualSignature(): SignatureInfo {
  const info = residualParams.map(layerParamInfo);
  return {
    name: "residual",
    kind: "residual",
    label: `residual(${info.map((p) => p.label).join(", ")})`,
    params: info,
    doc: "a residual connection: the body's output plus its input (or a projection of it)",
  };
}

/** `1x64x32x56x56`. */
export const shapeText = (s: Shape | readonly number[]) => s.join("x");

/** `96.71 G (96,711,516,160)`: a count short and exact. */
export function countText(n: number): string {
  const units: [number, string][] = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "K"],
  ];
  const exact = n.toLocaleString("en");
  for (const [size, unit] of units)
    if (Math.abs(n) >= size) return `${(n / size).toFixed(2)} ${unit} (${exact})`;
  return exact;
}
