// The .csn grammar, with actions that build the AST (helpers in `to-ast.ts`). Error recovery is
// on so that one run reports every syntax error; the AST of a file with errors is dropped.
import { EmbeddedActionsParser, type IToken } from "chevrotain";
import type * as A from "./ast.js";
import { binary, dimsLiteral, stringValue, tokenEnd, tokenSpan, tokenStart } from "./to-ast.js";
import * as T from "./tokens.js";

/**
 * How deep bodies (`{ }`), expressions in brackets, argument lists and ternary branches, and
 * chains of `-`, `not`, `**` and `else if` may nest. The parser and the passes after it recurse
 * once per level; a limit turns what would overflow the stack into a diagnostic.
 */
export const maxNesting = 100;

/** Thrown out of the parser where the nesting crosses `maxNesting`; `parse` reports it. */
export class NestingTooDeep extends Error {
  constructor(readonly token: IToken) {
    super(`nesting deeper than ${maxNesting} levels`);
  }
}

// Chevrotain's rule stack (not in its typings): the rules being parsed, outermost first.
interface RuleStack {
  RULE_STACK: number[];
  RULE_STACK_IDX: number;
  fullRuleNameToShort: Record<string, number>;
}

// Every rule on the stack that is one of these opens a level...
const levelRules = ["body", "expr"];
// ...and so does one of these directly inside itself (`- - x`, `not not x`, `a ** b ** c`, `else if`).
const chainRules = ["notExpr", "unaryExpr", "powExpr", "ifStmt"];

class CsnParser extends EmbeddedActionsParser {
  /** The file name put in spans; set before each parse. */
  file = "";
  /** String literals with escapes JSON does not know, or raw control characters. */
  badStrings: IToken[] = [];
  /** One string per distinct name in a file (every `relu` would otherwise be a copy); reset per parse. */
  names = new Map<string, string>();
  private levels = new Set<number>();
  private chains = new Set<number>();

  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3 });
    this.performSelfAnalysis();
    const names = (this as unknown as RuleStack).fullRuleNameToShort ?? {};
    for (const r of levelRules) if (names[r] !== undefined) this.levels.add(names[r]);
    for (const r of chainRules) if (names[r] !== undefined) this.chains.add(names[r]);
  }

  /** The next token: where parsing stood when it stopped. */
  nextToken(): IToken {
    return this.LA(1);
  }

  // Called on entering a nesting rule; `ahead` picks the token that opened the level (the `{`
  // or `if` ahead, or the `(`, `=`, `-`, ... just consumed).
  private nest(ahead: 0 | 1): void {
    const s = this as unknown as RuleStack;
    const top = s.RULE_STACK_IDX;
    if (typeof top !== "number" || top < maxNesting) return; // a level takes one rule at least
    let depth = 0;
    for (let i = 0; i <= top; i++) {
      const r = s.RULE_STACK[i]!;
      if (this.levels.has(r) || (this.chains.has(r) && s.RULE_STACK[i - 1] === r)) depth++;
    }
    if (depth > maxNesting) throw new NestingTooDeep(this.LA(ahead));
  }

  // Spans of rules: from the first token a rule consumes (next when it starts) to the last.
  private here(): number {
    return tokenStart(this.LA(1));
  }
  private from(start: number): A.Span {
    return { file: this.file, start, end: tokenEnd(this.LA(0)) };
  }
  private tok(t: IToken): A.Span {
    return tokenSpan(this.file, t);
  }
  private name(t: IToken): string {
    const known = this.names.get(t.image);
    if (known !== undefined) return known;
    this.names.set(t.image, t.image);
    return t.image;
  }
  private string(t: IToken): string {
    const v = stringValue(t.image);
    if (v === undefined) this.ACTION(() => this.badStrings.push(t));
    return v ?? "";
  }

  program = this.RULE("program", (): A.Program => {
    const imports: A.ImportDecl[] = [];
    const blocks: A.BlockDecl[] = [];
    const models: A.BlockDecl[] = [];
    this.MANY(() => {
      this.OR([
        { ALT: () => imports.push(this.SUBRULE(this.importDecl)) },
        { ALT: () => blocks.push(this.SUBRULE(this.blockDecl)) },
        { ALT: () => models.push(this.SUBRULE(this.modelDecl)) },
      ]);
    });
    return { file: this.file, imports, blocks, models };
  });

  importDecl = this.RULE("importDecl", (): A.ImportDecl => {
    const start = this.here();
    this.CONSUME(T.Import);
    const path = this.string(this.CONSUME(T.StringLiteral));
    return { path, span: this.from(start) };
  });

  blockDecl = this.RULE("blockDecl", (): A.BlockDecl => {
    const start = this.here();
    this.CONSUME(T.Block);
    const name = this.CONSUME(T.Identifier);
    const params = this.OPTION(() => this.SUBRULE(this.paramList)) ?? [];
    const body = this.SUBRULE(this.body);
    return { kind: "block", ...this.decl(name, params, body, start) };
  });

  modelDecl = this.RULE("modelDecl", (): A.BlockDecl => {
    const start = this.here();
    this.CONSUME(T.Model);
    const name = this.CONSUME(T.Identifier);
    const params = this.OPTION(() => this.SUBRULE(this.paramList)) ?? [];
    const body = this.SUBRULE(this.body);
    return { kind: "model", ...this.decl(name, params, body, start) };
  });

  private decl(name: IToken, params: A.ParamDecl[], body: A.Statement[], start: number) {
    return { name: name.image, nameSpan: this.tok(name), params, body, span: this.from(start) };
  }

  paramList = this.RULE("paramList", (): A.ParamDecl[] => {
    const params: A.ParamDecl[] = [];
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => params.push(this.SUBRULE(this.param)) });
    this.CONSUME(T.RParen);
    return params;
  });

  // `name`, `name: int`, `name = 3`, `name: ir | ip = ir`
  param = this.RULE("param", (): A.ParamDecl => {
    const start = this.here();
    const name = this.CONSUME(T.Identifier).image;
    const type = this.OPTION(() => {
      this.CONSUME(T.Colon);
      return this.SUBRULE(this.typeExpr);
    });
    const value = this.OPTION2(() => {
      this.CONSUME(T.Assign);
      return this.SUBRULE(this.expr);
    });
    return { name, type, default: value, span: this.from(start) };
  });

  // A type name (`int`, `float`, `bool`, `dims`) or an enumeration `a | b | c`.
  typeExpr = this.RULE("typeExpr", (): A.TypeExpr => {
    const start = this.here();
    const names: string[] = [];
    this.AT_LEAST_ONE_SEP({
      SEP: T.Pipe,
      DEF: () => names.push(this.CONSUME(T.Identifier).image),
    });
    const span = this.from(start);
    return names.length === 1
      ? { kind: "named", name: names[0]!, span }
      : { kind: "enum", members: names, span };
  });

  body = this.RULE("body", (): A.Statement[] => {
    this.ACTION(() => this.nest(1));
    const statements: A.Statement[] = [];
    this.CONSUME(T.LBrace);
    this.MANY(() => statements.push(this.SUBRULE(this.statement)));
    this.CONSUME(T.RBrace);
    return statements;
  });

  statement = this.RULE("statement", (): A.Statement =>
    this.OR<A.Statement>([
      { ALT: () => this.SUBRULE(this.inputStmt) },
      { ALT: () => this.SUBRULE(this.letStmt) },
      { ALT: () => this.SUBRULE(this.stageStmt) },
      { ALT: () => this.SUBRULE(this.repeatStmt) },
      { ALT: () => this.SUBRULE(this.ifStmt) },
      { ALT: () => this.SUBRULE(this.residualStmt) },
      { ALT: () => this.SUBRULE(this.callStmt) },
    ]),
  );

  inputStmt = this.RULE("inputStmt", (): A.InputStmt => {
    const start = this.here();
    this.CONSUME(T.Input);
    const dims = this.SUBRULE(this.expr);
    return { kind: "input", dims, span: this.from(start) };
  });

  letStmt = this.RULE("letStmt", (): A.LetStmt => {
    const start = this.here();
    this.CONSUME(T.Let);
    const name = this.name(this.CONSUME(T.Identifier));
    this.CONSUME(T.Assign);
    const value = this.SUBRULE(this.expr);
    return { kind: "let", name, value, span: this.from(start) };
  });

  stageStmt = this.RULE("stageStmt", (): A.StageStmt => {
    const start = this.here();
    this.CONSUME(T.Stage);
    const name = this.CONSUME(T.Identifier).image;
    const body = this.SUBRULE(this.body);
    return { kind: "stage", name, body, span: this.from(start) };
  });

  // `repeat n { ... }` or `repeat n as i { ... }`: i counts 0..n-1.
  repeatStmt = this.RULE("repeatStmt", (): A.RepeatStmt => {
    const start = this.here();
    this.CONSUME(T.Repeat);
    const count = this.SUBRULE(this.expr);
    const index = this.OPTION(() => {
      this.CONSUME(T.As);
      return this.name(this.CONSUME(T.Identifier));
    });
    const body = this.SUBRULE(this.body);
    return { kind: "repeat", count, index, body, span: this.from(start) };
  });

  ifStmt = this.RULE("ifStmt", (): A.IfStmt => {
    this.ACTION(() => this.nest(1));
    const start = this.here();
    this.CONSUME(T.If);
    const condition = this.SUBRULE(this.expr);
    const then = this.SUBRULE(this.body);
    const otherwise = this.OPTION(() => {
      this.CONSUME(T.Else);
      return this.OR<A.Statement[]>([
        { ALT: () => [this.SUBRULE(this.ifStmt)] },
        { ALT: () => this.SUBRULE2(this.body) },
      ]);
    });
    return { kind: "if", condition, then, otherwise: otherwise ?? [], span: this.from(start) };
  });

  // `residual { main }`, `residual(shortcut = identity) { main }`, `residual { main } shortcut { path }`
  residualStmt = this.RULE("residualStmt", (): A.ResidualStmt => {
    const start = this.here();
    this.CONSUME(T.Residual);
    const args = this.OPTION(() => this.SUBRULE(this.argList)) ?? [];
    const body = this.SUBRULE(this.body);
    const shortcut = this.OPTION2(() => {
      this.CONSUME(T.Shortcut);
      return this.SUBRULE2(this.body);
    });
    return { kind: "residual", args, body, shortcut, span: this.from(start) };
  });

  // A layer or block call: `relu`, `conv(64, 1x1x1)`, `conv_a: conv(width, 1x1x1)`.
  callStmt = this.RULE("callStmt", (): A.CallStmt => {
    const start = this.here();
    const label = this.OPTION(() => {
      const t = this.CONSUME(T.Identifier);
      this.CONSUME(T.Colon);
      return this.name(t);
    });
    const callee = this.CONSUME2(T.Identifier);
    const args = this.OPTION2(() => this.SUBRULE(this.argList));
    const calleeSpan = this.tok(callee);
    // A bare `relu` shares its empty argument list and its span with every other.
    return {
      kind: "call",
      label,
      callee: this.name(callee),
      calleeSpan,
      args: args?.length ? args : noArgs,
      span: label === undefined && !args ? calleeSpan : this.from(start),
    };
  });

  argList = this.RULE("argList", (): A.Arg[] => {
    const args: A.Arg[] = [];
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => args.push(this.SUBRULE(this.arg)) });
    this.CONSUME(T.RParen);
    return args;
  });

  // `shortcut` is a keyword but also the name of residual's argument: `residual(shortcut = project)`.
  arg = this.RULE("arg", (): A.Arg => {
    const start = this.here();
    const name = this.OPTION(() => {
      const t = this.OR([
        { ALT: () => this.CONSUME(T.Identifier) },
        { ALT: () => this.CONSUME(T.Shortcut) },
      ]);
      this.CONSUME(T.Assign);
      return this.name(t);
    });
    const value = this.SUBRULE(this.expr);
    return { name, value, span: this.from(start) };
  });

  // Expressions, lowest precedence first: dims (`a x b x c`), ternary, or, and, not,
  // comparison, additive, multiplicative, power (right-associative), unary minus, primary.
  // Left-associative chains are loops here, so `1 + 1 + ... + 1` does not recurse per term.
  expr = this.RULE("expr", (): A.Expr => {
    this.ACTION(() => this.nest(0));
    const start = this.here();
    const items = [this.SUBRULE(this.ternaryExpr)];
    this.MANY(() => {
      this.CONSUME(T.Times);
      items.push(this.SUBRULE2(this.ternaryExpr));
    });
    return items.length === 1 ? items[0]! : { kind: "dims", items, span: this.from(start) };
  });

  ternaryExpr = this.RULE("ternaryExpr", (): A.Expr => {
    const start = this.here();
    const condition = this.SUBRULE(this.orExpr);
    const branches = this.OPTION(() => {
      this.CONSUME(T.Question);
      const then = this.SUBRULE(this.expr);
      this.CONSUME(T.Colon);
      const otherwise = this.SUBRULE2(this.expr);
      return { then, otherwise };
    });
    if (!branches) return condition;
    return { kind: "ternary", condition, ...branches, span: this.from(start) };
  });

  orExpr = this.RULE("orExpr", (): A.Expr => {
    let left = this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.Or);
      left = binary(this.file, "or", left, this.SUBRULE2(this.andExpr));
    });
    return left;
  });

  andExpr = this.RULE("andExpr", (): A.Expr => {
    let left = this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(T.And);
      left = binary(this.file, "and", left, this.SUBRULE2(this.notExpr));
    });
    return left;
  });

  notExpr = this.RULE("notExpr", (): A.Expr => {
    this.ACTION(() => this.nest(0));
    return this.OR<A.Expr>([
      {
        ALT: () => {
          const start = this.here();
          this.CONSUME(T.Not);
          const operand = this.SUBRULE(this.notExpr);
          return { kind: "unary", op: "not", operand, span: this.from(start) };
        },
      },
      { ALT: () => this.SUBRULE(this.compareExpr) },
    ]);
  });

  compareExpr = this.RULE("compareExpr", (): A.Expr => {
    let left = this.SUBRULE(this.addExpr);
    this.OPTION(() => {
      const op = this.OR([
        { ALT: () => this.CONSUME(T.EqEq) },
        { ALT: () => this.CONSUME(T.NotEq) },
        { ALT: () => this.CONSUME(T.LessEq) },
        { ALT: () => this.CONSUME(T.GreaterEq) },
        { ALT: () => this.CONSUME(T.Less) },
        { ALT: () => this.CONSUME(T.Greater) },
      ]);
      left = binary(this.file, this.name(op), left, this.SUBRULE2(this.addExpr));
    });
    return left;
  });

  addExpr = this.RULE("addExpr", (): A.Expr => {
    let left = this.SUBRULE(this.mulExpr);
    this.MANY(() => {
      const op = this.OR([
        { ALT: () => this.CONSUME(T.Plus) },
        { ALT: () => this.CONSUME(T.Minus) },
      ]);
      left = binary(this.file, this.name(op), left, this.SUBRULE2(this.mulExpr));
    });
    return left;
  });

  mulExpr = this.RULE("mulExpr", (): A.Expr => {
    let left = this.SUBRULE(this.powExpr);
    this.MANY(() => {
      const op = this.OR([
        { ALT: () => this.CONSUME(T.Star) },
        { ALT: () => this.CONSUME(T.Slash) },
        { ALT: () => this.CONSUME(T.Percent) },
      ]);
      left = binary(this.file, this.name(op), left, this.SUBRULE2(this.powExpr));
    });
    return left;
  });

  powExpr = this.RULE("powExpr", (): A.Expr => {
    this.ACTION(() => this.nest(0));
    const start = this.here();
    const base = this.SUBRULE(this.unaryExpr);
    const exponent = this.OPTION(() => {
      this.CONSUME(T.Power);
      return this.SUBRULE(this.powExpr);
    });
    if (!exponent) return base;
    return { kind: "binary", op: "**", left: base, right: exponent, span: this.from(start) };
  });

  unaryExpr = this.RULE("unaryExpr", (): A.Expr => {
    this.ACTION(() => this.nest(0));
    return this.OR<A.Expr>([
      {
        ALT: () => {
          const start = this.here();
          this.CONSUME(T.Minus);
          const operand = this.SUBRULE(this.unaryExpr);
          return { kind: "unary", op: "-", operand, span: this.from(start) };
        },
      },
      { ALT: () => this.SUBRULE(this.primary) },
    ]);
  });

  primary = this.RULE("primary", (): A.Expr => {
    const start = this.here();
    return this.OR<A.Expr>([
      { ALT: () => dimsLiteral(this.file, this.CONSUME(T.DimsLiteral)) },
      {
        ALT: () => {
          const t = this.CONSUME(T.FloatLiteral);
          return { kind: "float", value: Number(t.image), span: this.tok(t) };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.IntegerLiteral);
          return { kind: "int", value: Number(t.image), span: this.tok(t) };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.StringLiteral);
          return { kind: "string", value: this.string(t), span: this.tok(t) };
        },
      },
      { ALT: () => ({ kind: "bool", value: true, span: this.tok(this.CONSUME(T.True)) }) },
      { ALT: () => ({ kind: "bool", value: false, span: this.tok(this.CONSUME(T.False)) }) },
      {
        ALT: () => {
          const name = this.name(this.CONSUME(T.Identifier));
          const args = this.OPTION(() => this.SUBRULE(this.argList));
          const span = this.from(start);
          return args ? { kind: "call", callee: name, args, span } : { kind: "name", name, span };
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          const inner = this.SUBRULE(this.expr);
          this.CONSUME(T.RParen);
          return inner;
        },
      },
    ]);
  });
}

const noArgs: A.Arg[] = [];

/** One shared instance: chevrotain parsers are expensive to build and cheap to reuse. */
export const csnParser = new CsnParser();
