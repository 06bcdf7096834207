// The AST of a .csn file: plain, readonly data. Every node carries the span it came from, as
// offsets into its file; line and column are computed only when a diagnostic is printed.

/** A region of one source file: [start, end) in UTF-16 offsets. */
export interface Span {
  readonly file: string;
  readonly start: number;
  readonly end: number;
}

export interface Program {
  readonly file: string;
  readonly imports: readonly ImportDecl[];
  readonly blocks: readonly BlockDecl[];
  readonly models: readonly BlockDecl[];
}

export interface ImportDecl {
  readonly path: string;
  readonly span: Span;
}

/** A `block` or a `model`: both are parameterised bodies; a model may declare an input. */
export interface BlockDecl {
  readonly kind: "block" | "model";
  readonly name: string;
  readonly nameSpan: Span;
  readonly params: readonly ParamDecl[];
  readonly body: readonly Statement[];
  readonly span: Span;
}

export interface ParamDecl {
  readonly name: string;
  readonly type?: TypeExpr;
  readonly default?: Expr;
  readonly span: Span;
}

/** `int`, `float`, `bool`, `dims`, or an enumeration of bare names (`ir | ip`). */
export type TypeExpr =
  | { readonly kind: "named"; readonly name: string; readonly span: Span }
  | { readonly kind: "enum"; readonly members: readonly string[]; readonly span: Span };

export type Statement =
  InputStmt | LetStmt | StageStmt | RepeatStmt | IfStmt | ResidualStmt | CallStmt;

export interface InputStmt {
  readonly kind: "input";
  readonly dims: Expr;
  readonly span: Span;
}

export interface LetStmt {
  readonly kind: "let";
  readonly name: string;
  readonly value: Expr;
  readonly span: Span;
}

export interface StageStmt {
  readonly kind: "stage";
  readonly name: string;
  readonly body: readonly Statement[];
  readonly span: Span;
}

export interface RepeatStmt {
  readonly kind: "repeat";
  readonly count: Expr;
  readonly index?: string;
  readonly body: readonly Statement[];
  readonly span: Span;
}

export interface IfStmt {
  readonly kind: "if";
  readonly condition: Expr;
  readonly then: readonly Statement[];
  readonly otherwise: readonly Statement[];
  readonly span: Span;
}

export interface ResidualStmt {
  readonly kind: "residual";
  readonly args: readonly Arg[];
  readonly body: readonly Statement[];
  /** An explicit shortcut path; absent means identity or an automatic projection. */
  readonly shortcut?: readonly Statement[];
  readonly span: Span;
}

export interface CallStmt {
  readonly kind: "call";
  readonly label?: string;
  readonly callee: string;
  readonly calleeSpan: Span;
  readonly args: readonly Arg[];
  readonly span: Span;
}

export interface Arg {
  readonly name?: string;
  readonly value: Expr;
  readonly span: Span;
}

export type BinaryOp =
  "+" | "-" | "*" | "/" | "%" | "**" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "and" | "or";

export type Expr =
  | { readonly kind: "int"; readonly value: number; readonly span: Span }
  | { readonly kind: "float"; readonly value: number; readonly span: Span }
  | { readonly kind: "bool"; readonly value: boolean; readonly span: Span }
  | { readonly kind: "string"; readonly value: string; readonly span: Span }
  | { readonly kind: "name"; readonly name: string; readonly span: Span }
  | {
      readonly kind: "call";
      readonly callee: string;
      readonly args: readonly Arg[];
      readonly span: Span;
    }
  | { readonly kind: "dims"; readonly items: readonly Expr[]; readonly span: Span }
  | {
      readonly kind: "binary";
      readonly op: BinaryOp;
      readonly left: Expr;
      readonly right: Expr;
      readonly span: Span;
    }
  | {
      readonly kind: "unary";
      readonly op: "-" | "not";
      readonly operand: Expr;
      readonly span: Span;
    }
  | {
      readonly kind: "ternary";
      readonly condition: Expr;
      readonly then: Expr;
      readonly otherwise: Expr;
      readonly span: Span;
    };
