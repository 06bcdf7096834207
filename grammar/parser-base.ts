// What every rule of the .csn parser shares: the file being parsed, the nesting limit, spans,
// interned names and string literals, and the list shapes rules are made of.
import { EmbeddedActionsParser, type IToken, type ParserMethod } from "chevrotain";
import type * as A from "./ast.js";
import { stringValue, tokenEnd, tokenSpan, tokenStart } from "./to-ast.js";
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

export abstract class ParserBase extends EmbeddedActionsParser {
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
  }

  /** Analyses the grammar once every rule is defined: the last step of the final constructor. */
  protected analyse(): void {
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
  protected nest(ahead: 0 | 1): void {
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
  protected here(): number {
    return tokenStart(this.LA(1));
  }
  protected from(start: number): A.Span {
    return { file: this.file, start, end: tokenEnd(this.LA(0)) };
  }
  protected tok(t: IToken): A.Span {
    return tokenSpan(this.file, t);
  }
  protected name(t: IToken): string {
    const known = this.names.get(t.image);
    if (known !== undefined) return known;
    this.names.set(t.image, t.image);
    return t.image;
  }
  protected string(t: IToken): string {
    const v = stringValue(t.image);
    if (v === undefined) this.ACTION(() => this.badStrings.push(t));
    return v ?? "";
  }

  /** The rule `( item, item, ... )`: parameter and argument lists. */
  protected parenthesised<Item>(item: () => ParserMethod<[], Item>): () => Item[] {
    return () => {
      const items: Item[] = [];
      this.CONSUME(T.LParen);
      this.MANY_SEP({ SEP: T.Comma, DEF: () => items.push(this.SUBRULE(item())) });
      this.CONSUME(T.RParen);
      return items;
    };
  }
}
