// Hover: on a layer, block call, residual or stage, its output shape and counts, instance by
// instance; on a block's name (declared or called), its signature and doc comment; on a layer
// word, its signature; on a name, what it names.
import { lookupLayer } from "../layers.js";
import { blockSignature, layerSignature, type SignatureInfo } from "./describe.js";
import { textOf, type Analysis } from "./project.js";
import { instancesFor, instancesMarkdown, type ShapeSource } from "./shapes.js";
import { contains, declAt, statementAt, visitDecl, type Binding } from "./syntax.js";

export interface HoverResult {
  readonly markdown: string;
  readonly start: number;
  readonly end: number;
}

const fence = (code: string) => "```csn\n" + code + "\n```";

function signatureMarkdown(sig: SignatureInfo): string {
  return [fence(sig.label), ...(sig.doc ? ["", sig.doc] : [])].join("\n");
}

function bindingMarkdown(b: Binding, a: Analysis): string {
  if (b.kind === "param") {
    const text = textOf(a, b.param.span.file);
    return `${fence(`(parameter of ${b.decl.kind} ${b.decl.name}) ${text.slice(b.param.span.start, b.param.span.end)}`)}`;
  }
  if (b.kind === "let") return fence(a.text.slice(b.stmt.span.start, b.stmt.span.end));
  return fence(`(repeat index) ${b.stmt.index}: int, 0 .. count - 1`);
}

export function hover(a: Analysis, offset: number, source: ShapeSource): HoverResult | undefined {
  const program = a.syntax.program;
  const decl = declAt(program, offset);
  if (!decl) return undefined;
  if (contains(decl.nameSpan, offset)) {
    const lines = [signatureMarkdown(blockSignature(decl, a.text))];
    if (decl.kind === "model") {
      const graph = source.own.find((g) => g.model === decl.name);
      // The whole model as one instance: its output and its totals.
      const shapes = graph && instancesMarkdown([{ path: "", graph, nodes: graph.nodes }]);
      if (shapes) lines.push("", shapes);
    }
    return { markdown: lines.join("\n"), ...decl.nameSpan };
  }
  // A name in an expression.
  let named: HoverResult | undefined;
  visitDecl(decl, a.text, {
    name: (e, b) => {
      if (b && contains(e.span, offset)) named = { markdown: bindingMarkdown(b, a), ...e.span };
    },
  });
  if (named) return named;
  const s = statementAt(decl, offset);
  if (!s) return undefined;
  const parts: string[] = [];
  let range = { start: s.span.start, end: s.span.end };
  if (s.kind === "call" && contains(s.calleeSpan, offset)) {
    range = s.calleeSpan;
    const block = lookupLayer(s.callee) ? undefined : a.blocks.get(s.callee);
    const sig = block
      ? blockSignature(block, textOf(a, block.span.file))
      : layerSignature(s.callee);
    if (sig) parts.push(signatureMarkdown(sig));
  } else if (s.kind === "call") {
    parts.push(fence(a.text.slice(s.span.start, s.span.end)));
  } else if (s.kind === "stage") parts.push(`**stage ${s.name}**`);
  else if (s.kind === "residual") parts.push("**residual**");
  else if (s.kind === "repeat") parts.push("**repeat**");
  else if (s.kind === "input") parts.push("**input**");
  const shapes = instancesMarkdown(instancesFor(s.span, source));
  if (shapes) parts.push("", shapes);
  else if (a.check.diagnostics.length) parts.push("", "_no shapes: the file has errors_");
  else if (decl.kind === "block")
    parts.push("", "_no shapes: open a model that uses this block to see them_");
  return parts.length ? { markdown: parts.join("\n"), ...range } : undefined;
}
