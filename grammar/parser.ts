// The .csn grammar: rules only, no actions. Error recovery is on so that one run reports every
// syntax error; `to-ast.ts` turns the concrete syntax tree into the AST.
import { CstParser } from "chevrotain";
import * as T from "./tokens.js";

class CsnParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: "full" });
    this.performSelfAnalysis();
  }

  program = this.RULE("program", () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.importDecl) },
        { ALT: () => this.SUBRULE(this.blockDecl) },
        { ALT: () => this.SUBRULE(this.modelDecl) },
      ]);
    });
  });

  importDecl = this.RULE("importDecl", () => {
    this.CONSUME(T.Import);
    this.CONSUME(T.StringLiteral);
  });

  blockDecl = this.RULE("blockDecl", () => {
    this.CONSUME(T.Block);
    this.CONSUME(T.Identifier);
    this.OPTION(() => this.SUBRULE(this.paramList));
    this.SUBRULE(this.body);
  });

  modelDecl = this.RULE("modelDecl", () => {
    this.CONSUME(T.Model);
    this.CONSUME(T.Identifier);
    this.OPTION(() => this.SUBRULE(this.paramList));
    this.SUBRULE(this.body);
  });

  paramList = this.RULE("paramList", () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.param) });
    this.CONSUME(T.RParen);
  });

  // `name`, `name: int`, `name = 3`, `name: ir | ip = ir`
  param = this.RULE("param", () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.SUBRULE(this.typeExpr);
    });
    this.OPTION2(() => {
      this.CONSUME(T.Assign);
      this.SUBRULE(this.expr);
    });
  });

  // A type name (`int`, `float`, `bool`, `dims`) or an enumeration `a | b | c`.
  typeExpr = this.RULE("typeExpr", () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Pipe, DEF: () => this.CONSUME(T.Identifier) });
  });

  body = this.RULE("body", () => {
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.statement));
    this.CONSUME(T.RBrace);
  });

  statement = this.RULE("statement", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.inputStmt) },
      { ALT: () => this.SUBRULE(this.letStmt) },
      { ALT: () => this.SUBRULE(this.stageStmt) },
      { ALT: () => this.SUBRULE(this.repeatStmt) },
      { ALT: () => this.SUBRULE(this.ifStmt) },
      { ALT: () => this.SUBRULE(this.residualStmt) },
      { ALT: () => this.SUBRULE(this.callStmt) },
    ]);
  });

  inputStmt = this.RULE("inputStmt", () => {
    this.CONSUME(T.Input);
    this.SUBRULE(this.expr);
  });

  letStmt = this.RULE("letStmt", () => {
    this.CONSUME(T.Let);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Assign);
    this.SUBRULE(this.expr);
  });

  stageStmt = this.RULE("stageStmt", () => {
    this.CONSUME(T.Stage);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.body);
  });

  // `repeat n { ... }` or `repeat n as i { ... }`: i counts 0..n-1.
  repeatStmt = this.RULE("repeatStmt", () => {
    this.CONSUME(T.Repeat);
    this.SUBRULE(this.expr);
    this.OPTION(() => {
      this.CONSUME(T.As);
      this.CONSUME(T.Identifier);
    });
    this.SUBRULE(this.body);
  });

  ifStmt = this.RULE("ifStmt", () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expr);
    this.SUBRULE(this.body);
    this.OPTION(() => {
      this.CONSUME(T.Else);
      this.OR([{ ALT: () => this.SUBRULE(this.ifStmt) }, { ALT: () => this.SUBRULE2(this.body) }]);
    });
  });

  // `residual { main }`, `residual(shortcut = identity) { main }`, `residual { main } shortcut { path }`
  residualStmt = this.RULE("residualStmt", () => {
    this.CONSUME(T.Residual);
    this.OPTION(() => this.SUBRULE(this.argList));
    this.SUBRULE(this.body);
    this.OPTION2(() => {
      this.CONSUME(T.Shortcut);
      this.SUBRULE2(this.body);
    });
  });

  // A layer or block call: `relu`, `conv(64, 1x1x1)`, `conv_a: conv(width, 1x1x1)`.
  callStmt = this.RULE("callStmt", () => {
    this.OPTION(() => {
      this.CONSUME(T.Identifier, { LABEL: "label" });
      this.CONSUME(T.Colon);
    });
    this.CONSUME2(T.Identifier, { LABEL: "callee" });
    this.OPTION2(() => this.SUBRULE(this.argList));
  });

  argList = this.RULE("argList", () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) });
    this.CONSUME(T.RParen);
  });

  // `shortcut` is a keyword but also the name of residual's argument: `residual(shortcut = project)`.
  arg = this.RULE("arg", () => {
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Identifier, { LABEL: "name" }) },
        { ALT: () => this.CONSUME(T.Shortcut, { LABEL: "name" }) },
      ]);
      this.CONSUME(T.Assign);
    });
    this.SUBRULE(this.expr);
  });

  // Expressions, lowest precedence first: dims (`a x b x c`), ternary, or, and, not,
  // comparison, additive, multiplicative, power (right-associative), unary minus, primary.
  expr = this.RULE("expr", () => {
    this.SUBRULE(this.ternaryExpr);
    this.MANY(() => {
      this.CONSUME(T.Times);
      this.SUBRULE2(this.ternaryExpr);
    });
  });

  ternaryExpr = this.RULE("ternaryExpr", () => {
    this.SUBRULE(this.orExpr);
    this.OPTION(() => {
      this.CONSUME(T.Question);
      this.SUBRULE(this.expr, { LABEL: "then" });
      this.CONSUME(T.Colon);
      this.SUBRULE2(this.expr, { LABEL: "otherwise" });
    });
  });

  orExpr = this.RULE("orExpr", () => {
    this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.Or);
      this.SUBRULE2(this.andExpr);
    });
  });

  andExpr = this.RULE("andExpr", () => {
    this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(T.And);
      this.SUBRULE2(this.notExpr);
    });
  });

  notExpr = this.RULE("notExpr", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.compareExpr) },
    ]);
  });

  compareExpr = this.RULE("compareExpr", () => {
    this.SUBRULE(this.addExpr);
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.EqEq) },
        { ALT: () => this.CONSUME(T.NotEq) },
        { ALT: () => this.CONSUME(T.LessEq) },
        { ALT: () => this.CONSUME(T.GreaterEq) },
        { ALT: () => this.CONSUME(T.Less) },
        { ALT: () => this.CONSUME(T.Greater) },
      ]);
      this.SUBRULE2(this.addExpr);
    });
  });

  addExpr = this.RULE("addExpr", () => {
    this.SUBRULE(this.mulExpr);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE2(this.mulExpr);
    });
  });

  mulExpr = this.RULE("mulExpr", () => {
    this.SUBRULE(this.powExpr);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star) },
        { ALT: () => this.CONSUME(T.Slash) },
        { ALT: () => this.CONSUME(T.Percent) },
      ]);
      this.SUBRULE2(this.powExpr);
    });
  });

  powExpr = this.RULE("powExpr", () => {
    this.SUBRULE(this.unaryExpr);
    this.OPTION(() => {
      this.CONSUME(T.Power);
      this.SUBRULE(this.powExpr);
    });
  });

  unaryExpr = this.RULE("unaryExpr", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unaryExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.primary) },
    ]);
  });

  primary = this.RULE("primary", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.DimsLiteral) },
      { ALT: () => this.CONSUME(T.FloatLiteral) },
      { ALT: () => this.CONSUME(T.IntegerLiteral) },
      { ALT: () => this.CONSUME(T.StringLiteral) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.OPTION(() => this.SUBRULE(this.argList));
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expr);
          this.CONSUME(T.RParen);
        },
      },
    ]);
  });
}

/** One shared instance: chevrotain parsers are expensive to build and cheap to reuse. */
export const csnParser = new CsnParser();
