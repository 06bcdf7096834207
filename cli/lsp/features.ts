// The language features as LSP requests: each turns positions into offsets, asks the
// compiler's language service (compiler/service/) and turns its answer back into protocol types.
import * as path from "node:path";
import {
  CompletionItemKind,
  DiagnosticRelatedInformation,
  DiagnosticSeverity,
  InlayHintKind,
  SymbolKind,
  TextEdit,
  type Connection,
  type Diagnostic,
  type DocumentSymbol,
  type Location,
  type SemanticTokens,
} from "vscode-languageserver/node.js";
import { TextDocument } from "vscode-languageserver-textdocument";
import { formatSource } from "../../grammar/format.js";
import { signatureHelp } from "../../compiler/service/calls.js";
import { complete, type CompletionKind } from "../../compiler/service/completion.js";
import { fileDiagnostics } from "../../compiler/service/diagnostics.js";
import { hover } from "../../compiler/service/hover.js";
import { definition, references, rename } from "../../compiler/service/navigation.js";
import {
  outline,
  semanticTokens,
  tokenModifiers,
  tokenTypes,
  type OutlineSymbol,
} from "../../compiler/service/outline.js";
import { shapeHints } from "../../compiler/service/shapes.js";
import type { Place } from "../../compiler/service/syntax.js";
import type { Analysis } from "../../compiler/service/project.js";
import { fileToUri, uriToFile, type Workspace } from "./workspace.js";

export const semanticLegend = { tokenTypes: [...tokenTypes], tokenModifiers: [...tokenModifiers] };

/** A document for a file that may not be open: its analysis's text. */
function docFor(ws: Workspace, a: Analysis, file: string): TextDocument {
  return (
    ws.document(file) ??
    TextDocument.create(
      fileToUri(file),
      "csn",
      0,
      file === a.file ? a.text : (a.texts.get(file) ?? ""),
    )
  );
}

function location(ws: Workspace, a: Analysis, p: Place): Location {
  const doc = docFor(ws, a, p.file);
  return {
    uri: fileToUri(p.file),
    range: { start: doc.positionAt(p.start), end: doc.positionAt(p.end) },
  };
}

/** The protocol's diagnostics for an analysed file. */
export function diagnosticsOf(ws: Workspace, a: Analysis): Diagnostic[] {
  const doc = docFor(ws, a, a.file);
  const shown = (f: string) => path.relative(path.dirname(a.file), f) || f;
  return fileDiagnostics(a, shown).map((d) => ({
    range: { start: doc.positionAt(d.start), end: doc.positionAt(d.end) },
    severity: d.severity === "error" ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: `CSN${d.code}`,
    source: "csnc",
    message: d.hint ? `${d.message}\nhint: ${d.hint}` : d.message,
    relatedInformation: d.related.map((r) =>
      DiagnosticRelatedInformation.create(location(ws, a, r), r.message),
    ),
    data: d.hint === undefined ? undefined : { hint: d.hint },
  }));
}

const completionKinds: Record<CompletionKind, CompletionItemKind> = {
  layer: CompletionItemKind.Function,
  block: CompletionItemKind.Class,
  keyword: CompletionItemKind.Keyword,
  argument: CompletionItemKind.Field,
  enum: CompletionItemKind.EnumMember,
  type: CompletionItemKind.TypeParameter,
  function: CompletionItemKind.Function,
  variable: CompletionItemKind.Variable,
  parameter: CompletionItemKind.Variable,
};

const symbolKinds: Record<OutlineSymbol["kind"], SymbolKind> = {
  model: SymbolKind.Class,
  block: SymbolKind.Function,
  stage: SymbolKind.Namespace,
};

/** Registers every request handler; `guard` runs a handler, turning a failure into a log line. */
export function registerFeatures(
  connection: Connection,
  ws: Workspace,
  guard: <T>(what: string, fallback: T, f: () => T, rethrow?: boolean) => T,
): void {
  // The analysis and document behind a request's text document.
  const at = (uri: string) => {
    const file = uriToFile(uri);
    const a = file === undefined ? undefined : ws.analysis(file);
    const doc = file === undefined ? undefined : ws.document(file);
    return a && doc ? { a, doc, file: file! } : undefined;
  };

  connection.onHover((p) =>
    guard("hover", null, () => {
      const c = at(p.textDocument.uri);
      if (!c) return null;
      const h = hover(c.a, c.doc.offsetAt(p.position), ws.shapes(c.file));
      return h
        ? {
            contents: { kind: "markdown", value: h.markdown },
            range: { start: c.doc.positionAt(h.start), end: c.doc.positionAt(h.end) },
          }
        : null;
    }),
  );

  connection.languages.inlayHint.on((p) =>
    guard("inlay hints", [], () => {
      const c = at(p.textDocument.uri);
      if (!c) return [];
      const [from, to] = [c.doc.offsetAt(p.range.start), c.doc.offsetAt(p.range.end)];
      return shapeHints(c.a, ws.shapes(c.file))
        .filter((h) => h.offset >= from && h.offset <= to)
        .map((h) => ({
          position: c.doc.positionAt(h.offset),
          label: h.label,
          kind: InlayHintKind.Type,
          tooltip: h.tooltip,
          paddingLeft: true,
          data: { shape: h.shape, instances: h.instances },
        }));
    }),
  );

  connection.onDefinition((p) =>
    guard("definition", [], () => {
      const c = at(p.textDocument.uri);
      return c ? definition(c.a, c.doc.offsetAt(p.position)).map((d) => location(ws, c.a, d)) : [];
    }),
  );

  connection.onReferences((p) =>
    guard("references", [], () => {
      const c = at(p.textDocument.uri);
      if (!c) return [];
      const found = references(c.a, c.doc.offsetAt(p.position), ws.project());
      return (p.context.includeDeclaration ? found : found.slice(1)).map((d) =>
        location(ws, c.a, d),
      );
    }),
  );

  connection.onPrepareRename((p) =>
    guard("prepare rename", null, () => {
      const c = at(p.textDocument.uri);
      if (!c) return null;
      const offset = c.doc.offsetAt(p.position);
      const r = rename(c.a, offset, "x_", ws.project());
      if ("error" in r) return null;
      const here = r.edits.find((e) => e.file === c.file && e.start <= offset && offset <= e.end);
      return here ? { start: c.doc.positionAt(here.start), end: c.doc.positionAt(here.end) } : null;
    }),
  );

  connection.onRenameRequest((p) =>
    guard(
      "rename",
      null,
      () => {
        const c = at(p.textDocument.uri);
        if (!c) return null;
        const r = rename(c.a, c.doc.offsetAt(p.position), p.newName, ws.project());
        if ("error" in r) throw new Error(r.error);
        const changes: Record<string, TextEdit[]> = {};
        const seen = new Set<string>();
        for (const e of r.edits) {
          const key = `${e.file}:${e.start}`;
          if (seen.has(key)) continue;
          seen.add(key);
          const loc = location(ws, c.a, e);
          (changes[loc.uri] ??= []).push(TextEdit.replace(loc.range, p.newName));
        }
        return { changes };
      },
      true,
    ),
  );

  connection.onCompletion((p) =>
    guard("completion", [], () => {
      const c = at(p.textDocument.uri);
      if (!c) return [];
      return complete(c.a, c.doc.offsetAt(p.position)).map((x, i) => ({
        label: x.label,
        kind: completionKinds[x.kind],
        detail: x.detail,
        documentation: x.doc,
        insertText: x.insert,
        sortText: `${x.preferred ? "0" : "1"}${String(i).padStart(4, "0")}`,
      }));
    }),
  );

  connection.onSignatureHelp((p) =>
    guard("signature help", null, () => {
      const c = at(p.textDocument.uri);
      const s = c && signatureHelp(c.a, c.doc.offsetAt(p.position));
      if (!s) return null;
      return {
        signatures: [
          {
            label: s.signature.label,
            documentation: s.signature.doc,
            parameters: s.signature.params.map((q) => ({ label: q.label, documentation: q.doc })),
          },
        ],
        activeSignature: 0,
        activeParameter: s.active,
      };
    }),
  );

  connection.onDocumentSymbol((p) =>
    guard("document symbols", [], () => {
      const c = at(p.textDocument.uri);
      if (!c) return [];
      const convert = (s: OutlineSymbol): DocumentSymbol => ({
        name: s.name,
        kind: symbolKinds[s.kind],
        detail: s.detail,
        range: { start: c.doc.positionAt(s.start), end: c.doc.positionAt(s.end) },
        selectionRange: { start: c.doc.positionAt(s.nameStart), end: c.doc.positionAt(s.nameEnd) },
        children: s.children.map(convert),
      });
      return outline(c.a).map(convert);
    }),
  );

  connection.languages.semanticTokens.on((p) =>
    guard<SemanticTokens>("semantic tokens", { data: [] }, () => {
      const c = at(p.textDocument.uri);
      if (!c) return { data: [] };
      // Relative encoding: line delta, start delta, length, type, modifier bits.
      const data: number[] = [];
      let line = 0;
      let char = 0;
      for (const t of semanticTokens(c.a)) {
        const pos = c.doc.positionAt(t.start);
        const end = c.doc.positionAt(t.start + t.length);
        if (end.line !== pos.line) continue; // tokens never span lines, but keep the encoding sound
        const mods = t.modifiers.reduce((m, x) => m | (1 << tokenModifiers.indexOf(x)), 0);
        data.push(
          pos.line - line,
          pos.line === line ? pos.character - char : pos.character,
          t.length,
          tokenTypes.indexOf(t.type),
          mods,
        );
        line = pos.line;
        char = pos.character;
      }
      return { data };
    }),
  );

  connection.onDocumentFormatting((p) =>
    guard("formatting", [], () => {
      const c = at(p.textDocument.uri);
      if (!c) return [];
      const text = c.doc.getText();
      const r = formatSource(text, c.file);
      if (r.text === undefined || r.text === text) return [];
      return [
        TextEdit.replace(
          { start: c.doc.positionAt(0), end: c.doc.positionAt(text.length) },
          r.text,
        ),
      ];
    }),
  );
}
