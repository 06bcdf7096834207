// Walks over a program for the editor: every statement with the declaration it is in, and every
// name in expressions with what it names (a parameter, a `let`, a repeat index, or nothing: an
// enumeration member), following the binder's scoping rules (resolve.ts).
import type * as A from "../../grammar/index.js";

export type Binding =
  | {
      readonly kind: "param";
      readonly decl: A.BlockDecl;
      readonly param: A.ParamDecl;
      readonly at: number;
    }
  | { readonly kind: "let"; readonly stmt: A.LetStmt; readonly at: number }
  | { readonly kind: "index"; readonly stmt: A.RepeatStmt; readonly at: number };

export type NameExpr = Extract<A.Expr, { kind: "name" }>;

/** Where a name is written: offset and length, in `file`. */
export interface Place {
  readonly file: string;
  readonly start: number;
  readonly end: number;
}

export const contains = (s: { start: number; end: number }, offset: number) =>
  s.start <= offset && offset <= s.end;

/** Every declaration of a program, blocks and models, in text order. */
export function declarations(p: A.Program): A.BlockDecl[] {
  return [...p.blocks, ...p.models].sort((a, b) => a.span.start - b.span.start);
}

/** The bodies directly inside a statement. */
export function bodiesOf(s: A.Statement): (readonly A.Statement[])[] {
  switch (s.kind) {
    case "stage":
    case "repeat":
      return [s.body];
    case "if":
      return [s.then, s.otherwise];
    case "residual":
      return s.shortcut ? [s.body, s.shortcut] : [s.body];
    default:
      return [];
  }
}

/** Every statement of a declaration, outer before inner, in text order. */
export function statements(decl: A.BlockDecl): A.Statement[] {
  const out: A.Statement[] = [];
  const visit = (body: readonly A.Statement[]) => {
    for (const s of body) {
      out.push(s);
      for (const b of bodiesOf(s)) visit(b);
    }
  };
  visit(decl.body);
  return out;
}

/** The offset of the word `name` at or after `from` in `text` (a `let` or `as` name). */
export function wordAt(text: string, name: string, from: number): number {
  const re = new RegExp(`\\b${name}\\b`, "g");
  re.lastIndex = from;
  return re.exec(text)?.index ?? from;
}

class Scope {
  private readonly own = new Map<string, Binding>();
  constructor(private readonly outer?: Scope) {}
  get(name: string): Binding | undefined {
    return this.own.get(name) ?? this.outer?.get(name);
  }
  set(name: string, b: Binding): void {
    this.own.set(name, b);
  }
  /** Every visible binding, inner first, each name once. */
  all(): Map<string, Binding> {
    const out = this.outer?.all() ?? new Map<string, Binding>();
    for (const [k, v] of this.own) out.set(k, v);
    return out;
  }
}

export interface Visitor {
  /** A name in an expression and what it names (undefined: an enum member or unknown). */
  name?(e: NameExpr, binding: Binding | undefined): void;
  /** A call statement or residual, with the scope at it. */
  call?(s: A.CallStmt | A.ResidualStmt): void;
}

function exprNames(e: A.Expr, scope: Scope, v: Visitor): void {
  switch (e.kind) {
    case "name":
      v.name?.(e, scope.get(e.name));
      return;
    case "call":
      for (const a of e.args) exprNames(a.value, scope, v);
      return;
    case "dims":
      for (const i of e.items) exprNames(i, scope, v);
      return;
    case "binary":
      exprNames(e.left, scope, v);
      exprNames(e.right, scope, v);
      return;
    case "unary":
      exprNames(e.operand, scope, v);
      return;
    case "ternary":
      exprNames(e.condition, scope, v);
      exprNames(e.then, scope, v);
      exprNames(e.otherwise, scope, v);
      return;
    default:
      return;
  }
}

const letBinding = (s: A.LetStmt, text: string): Binding => ({
  kind: "let",
  stmt: s,
  at: wordAt(text, s.name, s.span.start + 3),
});
const indexBinding = (s: A.RepeatStmt, text: string): Binding => ({
  kind: "index",
  stmt: s,
  at: wordAt(text, s.index ?? "", s.count.span.end),
});

/** Walks every name and call of a declaration, each name with what it names. */
export function visitDecl(decl: A.BlockDecl, text: string, v: Visitor): void {
  const scope = new Scope();
  for (const p of decl.params) {
    if (p.default) exprNames(p.default, scope, v);
    scope.set(p.name, { kind: "param", decl, param: p, at: p.span.start });
  }
  const body = (list: readonly A.Statement[], outer: Scope) => {
    const inner = new Scope(outer);
    for (const s of list) {
      switch (s.kind) {
        case "input":
          exprNames(s.dims, inner, v);
          break;
        case "let":
          exprNames(s.value, inner, v);
          inner.set(s.name, letBinding(s, text));
          break;
        case "repeat": {
          exprNames(s.count, inner, v);
          const indexed = new Scope(inner);
          if (s.index) indexed.set(s.index, indexBinding(s, text));
          body(s.body, indexed);
          break;
        }
        case "if":
          exprNames(s.condition, inner, v);
          body(s.then, inner);
          body(s.otherwise, inner);
          break;
        case "residual":
        case "call":
          v.call?.(s);
          for (const a of s.args) exprNames(a.value, inner, v);
          if (s.kind === "residual") {
            body(s.body, inner);
            if (s.shortcut) body(s.shortcut, inner);
          }
          break;
        case "stage":
          body(s.body, inner);
          break;
      }
    }
  };
  body(decl.body, scope);
}

/** The names visible at `offset` in `decl`: parameters, then `let`s and indices around it. */
export function scopeAt(decl: A.BlockDecl, text: string, offset: number): Map<string, Binding> {
  const scope = new Scope();
  for (const p of decl.params) {
    if (p.span.start >= offset) return scope.all();
    scope.set(p.name, { kind: "param", decl, param: p, at: p.span.start });
  }
  let bodies: (readonly A.Statement[])[] = [decl.body];
  let outer = scope;
  for (;;) {
    // The last body that has begun before the cursor holds it.
    const list = bodies.filter((b) => b[0] === undefined || b[0].span.start < offset).at(-1);
    if (!list) return outer.all();
    const inner = new Scope(outer);
    let next: A.Statement | undefined;
    for (const s of list) {
      if (s.span.start >= offset) break;
      if (s.span.end < offset) {
        if (s.kind === "let") inner.set(s.name, letBinding(s, text));
        continue;
      }
      next = s;
      break;
    }
    if (!next) return inner.all();
    outer = inner;
    if (next.kind === "repeat" && next.index && offset > next.count.span.end) {
      outer = new Scope(inner);
      outer.set(next.index, indexBinding(next, text));
    }
    bodies = bodiesOf(next);
    if (bodies.length === 0) return outer.all();
  }
}

/** The declaration of `p` whose span holds `offset`. */
export function declAt(p: A.Program, offset: number): A.BlockDecl | undefined {
  return declarations(p).find((d) => contains(d.span, offset));
}

/** The innermost statement holding `offset`, preferring a call (a layer line) when nested. */
export function statementAt(decl: A.BlockDecl, offset: number): A.Statement | undefined {
  let best: A.Statement | undefined;
  for (const s of statements(decl)) if (contains(s.span, offset)) best = s;
  return best;
}
