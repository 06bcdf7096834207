// Go to definition (block calls across imports, parameters, `let`s, repeat indices, named
// arguments, import paths), references of a block, and renaming a block or a parameter across
// the project's files.
import type { BlockDecl, CallStmt, Program } from "../../grammar/index.js";
import { allTokens } from "../../grammar/tokens.js";
import { lookupLayer } from "../layers.js";
import type { Analysis } from "./project.js";
import {
  contains,
  declAt,
  declarations,
  statementAt,
  visitDecl,
  type Binding,
  type Place,
} from "./syntax.js";

/** The files references and renames look through, each parsed (or recovered). */
export interface Project {
  readonly programs: ReadonlyMap<string, Program>;
  /** The file an import of `from` names. */
  resolve(from: string, spec: string): string;
}

const nameOf = (file: string, start: number, name: string): Place => ({
  file,
  start,
  end: start + name.length,
});

function bindingPlace(b: Binding, file: string): Place {
  if (b.kind === "param") return nameOf(b.param.span.file, b.param.span.start, b.param.name);
  return nameOf(file, b.at, b.kind === "let" ? b.stmt.name : (b.stmt.index ?? ""));
}

/** What is under the cursor, for navigation. */
type Target =
  | { readonly kind: "block"; readonly decl: BlockDecl }
  | { readonly kind: "binding"; readonly binding: Binding; readonly at: Place }
  | { readonly kind: "import"; readonly file: string }
  | { readonly kind: "arg"; readonly block: BlockDecl; readonly param: string };

function target(a: Analysis, offset: number): Target | undefined {
  const program = a.syntax.program;
  for (const [imp, file] of a.imports)
    if (contains(imp.span, offset)) return { kind: "import", file };
  const decl = declAt(program, offset);
  if (!decl) return undefined;
  if (contains(decl.nameSpan, offset)) return { kind: "block", decl };
  for (const p of decl.params)
    if (offset >= p.span.start && offset <= p.span.start + p.name.length)
      return {
        kind: "binding",
        binding: { kind: "param", decl, param: p, at: p.span.start },
        at: nameOf(a.file, p.span.start, p.name),
      };
  let found: Target | undefined;
  visitDecl(decl, a.text, {
    name: (e, b) => {
      if (b && contains(e.span, offset)) found = { kind: "binding", binding: b, at: e.span };
    },
  });
  if (found) return found;
  const s = statementAt(decl, offset);
  if (s?.kind !== "call") return undefined;
  const block = lookupLayer(s.callee) ? undefined : a.blocks.get(s.callee);
  if (!block) return undefined;
  if (contains(s.calleeSpan, offset)) return { kind: "block", decl: block };
  for (const arg of s.args)
    if (arg.name && offset >= arg.span.start && offset <= arg.span.start + arg.name.length)
      return { kind: "arg", block, param: arg.name };
  return undefined;
}

/** Where the thing under the cursor is defined. */
export function definition(a: Analysis, offset: number): Place[] {
  const t = target(a, offset);
  if (!t) return [];
  switch (t.kind) {
    case "import":
      return [{ file: t.file, start: 0, end: 0 }];
    case "block":
      return [t.decl.nameSpan];
    case "binding":
      return [bindingPlace(t.binding, a.file)];
    case "arg": {
      const p = t.block.params.find((q) => q.name === t.param);
      return p ? [nameOf(p.span.file, p.span.start, p.name)] : [];
    }
  }
}

// The block a call in `file` reaches by name: the file's own, else the first of its imports'
// (depth first, as loading goes).
function blockVisibleFrom(project: Project, file: string, name: string): BlockDecl | undefined {
  const seen = new Set<string>();
  const visit = (f: string): BlockDecl | undefined => {
    if (seen.has(f)) return undefined;
    seen.add(f);
    const p = project.programs.get(f);
    if (!p) return undefined;
    const own = p.blocks.find((b) => b.name === name);
    if (own) return own;
    for (const imp of p.imports) {
      const hit = visit(project.resolve(f, imp.path));
      if (hit) return hit;
    }
    return undefined;
  };
  return visit(file);
}

const same = (x: BlockDecl, y: BlockDecl) =>
  x.nameSpan.file === y.nameSpan.file && x.nameSpan.start === y.nameSpan.start;

/** Every call of `decl` in the project's files. */
function callsOf(project: Project, decl: BlockDecl): CallStmt[] {
  const out: CallStmt[] = [];
  for (const [file, program] of project.programs) {
    const visible = blockVisibleFrom(project, file, decl.name);
    if (!visible || !same(visible, decl)) continue;
    for (const d of declarations(program))
      visitDecl(d, "", {
        call: (s) => {
          if (s.kind === "call" && s.callee === decl.name) out.push(s);
        },
      });
  }
  return out;
}

/** A block's declaration and every call of it; empty unless the cursor is on a block. */
export function references(a: Analysis, offset: number, project: Project): Place[] {
  const t = target(a, offset);
  if (t?.kind !== "block") return [];
  return [t.decl.nameSpan, ...callsOf(project, t.decl).map((c) => c.calleeSpan)];
}

const keywords = new Set(
  allTokens
    .filter((t) => typeof t.PATTERN === "string" && /^[a-z]+$/.test(t.PATTERN))
    .map((t) => t.PATTERN as string),
);

export type RenameResult = { readonly edits: Place[] } | { readonly error: string };

/** Renames the block or parameter under the cursor: every place that names it. */
export function rename(
  a: Analysis,
  offset: number,
  newName: string,
  project: Project,
): RenameResult {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(newName) || keywords.has(newName))
    return { error: `'${newName}' is not a name (names are letters, digits and _, not keywords)` };
  let t = target(a, offset);
  if (t?.kind === "arg") {
    const p = t.block.params.find((q) => q.name === (t as { param: string }).param);
    if (!p) return { error: "no such parameter" };
    t = {
      kind: "binding",
      binding: { kind: "param", decl: t.block, param: p, at: p.span.start },
      at: p.span,
    };
  }
  if (t?.kind === "block") {
    if (lookupLayer(newName)) return { error: `'${newName}' is a built-in layer` };
    return { edits: references(a, t.decl.nameSpan.start, project) };
  }
  if (t?.kind !== "binding" || t.binding.kind !== "param")
    return { error: "only blocks and parameters can be renamed" };
  const { decl, param } = t.binding;
  const edits: Place[] = [nameOf(param.span.file, param.span.start, param.name)];
  const declText = decl.span.file === a.file ? a.text : "";
  visitDecl(decl, declText, {
    name: (e, b) => {
      if (b?.kind === "param" && b.param === param) edits.push(e.span);
    },
  });
  if (decl.kind === "block")
    for (const c of callsOf(project, decl))
      for (const arg of c.args)
        if (arg.name === param.name) edits.push(nameOf(arg.span.file, arg.span.start, arg.name));
  return { edits };
}
