// Shapes in the editor: the instances of a statement (from the file's own models first, else
// from the other open files' models that use it), their hover text and inlay hints.
import type { Span } from "../../grammar/index.js";
import type { Graph } from "../ir.js";
import { countText, shapeText } from "./describe.js";
import { instanceCounts, instancesOf, outputShape, type Instance } from "./instances.js";
import type { Analysis } from "./project.js";
import { statements } from "./syntax.js";

/** The graphs that give a file's statements their shapes. */
export interface ShapeSource {
  /** The file's own models. */
  readonly own: readonly Graph[];
  /** The models of other open files (which may use this file's blocks). */
  readonly others: readonly Graph[];
}

export function instancesFor(span: Span, source: ShapeSource): Instance[] {
  const own = instancesOf(span, source.own);
  return own.length > 0 ? own : instancesOf(span, source.others);
}

/** Instances listed in a hover before "+N more". */
export const listedInstances = 5;

/** Markdown for the instances of a statement: shape, counts, and where else it ran. */
export function instancesMarkdown(list: readonly Instance[]): string | undefined {
  const first = list[0];
  if (!first) return undefined;
  const c = instanceCounts(first);
  const out = [
    `output \`${shapeText(outputShape(first))}\` (N x C x T x H x W)${list.length > 1 ? ` at \`${first.path || "(model)"}\`` : ""}`,
    "",
    `params ${countText(c.params)}${c.bnParams ? ` (+ ${countText(c.bnParams)} BN)` : ""} · MACs ${countText(c.macs)} · channel interactions ${countText(c.interactions)}`,
  ];
  if (list.length > 1) {
    const total = list.map(instanceCounts).reduce((a, b) => ({
      params: a.params + b.params,
      bnParams: a.bnParams + b.bnParams,
      macs: a.macs + b.macs,
      interactions: a.interactions + b.interactions,
    }));
    out.push(
      "",
      `${list.length} instances (in ${[...new Set(list.map((i) => i.graph.model))].join(", ")}), together: params ${countText(total.params)} · MACs ${countText(total.macs)} · channel interactions ${countText(total.interactions)}`,
      "",
      ...list.slice(0, listedInstances).map((i) => `- \`${i.path}\` ${shapeText(outputShape(i))}`),
    );
    if (list.length > listedInstances) out.push(`- +${list.length - listedInstances} more`);
  }
  return out.join("\n");
}

export interface ShapeHint {
  /** Offset the hint follows: the end of the statement. */
  readonly offset: number;
  readonly label: string;
  readonly tooltip: string;
  /** The shape shown (the first instance's output), N x C x T x H x W. */
  readonly shape: readonly number[];
  readonly instances: number;
}

/** An output shape after every layer line, block call, residual and stage of the file. */
export function shapeHints(a: Analysis, source: ShapeSource): ShapeHint[] {
  const hints: ShapeHint[] = [];
  for (const decl of [...a.syntax.program.blocks, ...a.syntax.program.models]) {
    for (const s of statements(decl)) {
      if (s.kind !== "call" && s.kind !== "stage" && s.kind !== "residual") continue;
      // A stage of one call shows that call's shape already.
      if (s.kind === "stage" && s.body.length === 1 && s.body[0]!.kind === "call") continue;
      const list = instancesFor(s.span, source);
      const first = list[0];
      if (!first) continue;
      const shape = outputShape(first);
      hints.push({
        offset: s.span.end,
        label: `→ ${shapeText(shape)}${list.length > 1 ? ` ×${list.length}` : ""}`,
        tooltip:
          list.length > 1
            ? `${first.path}: ${shapeText(shape)} (N x C x T x H x W); ${list.length} instances`
            : `${first.path || first.graph.model}: ${shapeText(shape)} (N x C x T x H x W)`,
        shape,
        instances: list.length,
      });
    }
  }
  return hints.sort((x, y) => x.offset - y.offset);
}
