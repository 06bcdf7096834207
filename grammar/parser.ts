// The .csn grammar, with actions that build the AST (helpers in `to-ast.ts`): declarations and
// statements here, expressions in `parser-expressions.ts`, what every rule shares in
// `parser-base.ts`. Error recovery is on so that one run reports every syntax error; the AST of
// a file with errors is dropped.
import type { TokenType } from "chevrotain";
import type * as A from "./ast.js";
import { ExpressionParser } from "./parser-expressions.js";
import * as T from "./tokens.js";

export { maxNesting, NestingTooDeep } from "./parser-base.js";

class CsnParser extends ExpressionParser {
  constructor() {
    super();
    this.analyse();
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

  blockDecl = this.RULE("blockDecl", (): A.BlockDecl => this.declaration(T.Block, "block"));

  modelDecl = this.RULE("modelDecl", (): A.BlockDecl => this.declaration(T.Model, "model"));

  paramList = this.RULE(
    "paramList",
    this.parenthesised(() => this.param),
  );

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

  // `block name(params) { body }` or `model name(params) { body }`.
  private declaration(keyword: TokenType, kind: A.BlockDecl["kind"]): A.BlockDecl {
    const start = this.here();
    this.CONSUME(keyword);
    const name = this.CONSUME(T.Identifier);
    const params = this.OPTION(() => this.SUBRULE(this.paramList)) ?? [];
    const body = this.SUBRULE(this.body);
    return {
      kind,
      name: name.image,
      nameSpan: this.tok(name),
      params,
      body,
      span: this.from(start),
    };
  }
}

const noArgs: A.Arg[] = [];

/** One shared instance: chevrotain parsers are expensive to build and cheap to reuse. */
export const csnParser = new CsnParser();
