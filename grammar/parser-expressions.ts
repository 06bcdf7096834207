// The expression rules of the .csn grammar, lowest precedence first: dims (`a x b x c`),
// ternary, or, and, not, comparison, additive, multiplicative, power (right-associative), unary
// minus, primary. Left-associative chains are loops here, so `1 + 1 + ... + 1` does not recurse
// per term.
import type { IToken, ParserMethod, TokenType } from "chevrotain";
import type * as A from "./ast.js";
import { ParserBase } from "./parser-base.js";
import { binary, dimsLiteral } from "./to-ast.js";
import * as T from "./tokens.js";

const comparisons = [T.EqEq, T.NotEq, T.LessEq, T.GreaterEq, T.Less, T.Greater];

export abstract class ExpressionParser extends ParserBase {
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

  orExpr = this.RULE(
    "orExpr",
    this.leftChain(() => this.andExpr, [T.Or]),
  );

  andExpr = this.RULE(
    "andExpr",
    this.leftChain(() => this.notExpr, [T.And]),
  );

  notExpr: ParserMethod<[], A.Expr> = this.RULE(
    "notExpr",
    this.prefixed(T.Not, "not", () => [this.notExpr, this.compareExpr]),
  );

  // Comparisons do not chain: `a < b < c` is a syntax error.
  compareExpr = this.RULE("compareExpr", (): A.Expr => {
    let left = this.SUBRULE(this.addExpr);
    this.OPTION(() => {
      const op = this.operator(comparisons);
      left = binary(this.file, this.name(op), left, this.SUBRULE2(this.addExpr));
    });
    return left;
  });

  addExpr = this.RULE(
    "addExpr",
    this.leftChain(() => this.mulExpr, [T.Plus, T.Minus]),
  );

  mulExpr = this.RULE(
    "mulExpr",
    this.leftChain(() => this.powExpr, [T.Star, T.Slash, T.Percent]),
  );

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

  unaryExpr: ParserMethod<[], A.Expr> = this.RULE(
    "unaryExpr",
    this.prefixed(T.Minus, "-", () => [this.unaryExpr, this.primary]),
  );

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

  argList = this.RULE(
    "argList",
    this.parenthesised(() => this.arg),
  );

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

  // The helpers below make rule bodies rather than run inside them: a helper's frame on every
  // level of a deep expression would overflow the stack before the nesting limit is reached.

  /** `operand (op operand)*`, folded to the left. */
  private leftChain(
    operand: () => ParserMethod<[], A.Expr>,
    operators: readonly TokenType[],
  ): () => A.Expr {
    return () => {
      let left = this.SUBRULE(operand());
      this.MANY(() => {
        const op = this.operator(operators);
        left = binary(this.file, this.name(op), left, this.SUBRULE2(operand()));
      });
      return left;
    };
  }

  /** `op self` or `next`, the rules given as `[self, next]`: `not not x`, `- - x`. */
  private prefixed(
    token: TokenType,
    op: "not" | "-",
    rules: () => readonly [ParserMethod<[], A.Expr>, ParserMethod<[], A.Expr>],
  ): () => A.Expr {
    return () => {
      this.ACTION(() => this.nest(0));
      return this.OR<A.Expr>([
        {
          ALT: () => {
            const start = this.here();
            this.CONSUME(token);
            const operand = this.SUBRULE(rules()[0]);
            return { kind: "unary", op, operand, span: this.from(start) };
          },
        },
        { ALT: () => this.SUBRULE(rules()[1]) },
      ]);
    };
  }

  /** One of the operator tokens. */
  private operator(tokens: readonly TokenType[]): IToken {
    return this.OR(tokens.map((t) => ({ ALT: () => this.CONSUME(t) })));
  }
}
