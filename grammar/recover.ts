// What an editor needs of a file that may not parse: the tokens, the AST chevrotain's recovery
// built (which `parse` drops when there were errors), cleaned of the holes recovery leaves, and
// the tokens the grammar allows next at a cursor (chevrotain's content assist).
import type { IToken } from "chevrotain";
import type * as A from "./ast.js";
import { isStackOverflow } from "./index.js";
import { csnParser, NestingTooDeep } from "./parser.js";
import { csnLexer } from "./tokens.js";

export interface Recovered {
  /** What of the file could be read; empty lists where nothing could. */
  readonly program: A.Program;
  readonly tokens: readonly IToken[];
}

/** A token the grammar accepts next, with the rules it would be read in (outermost first). */
export interface NextToken {
  readonly token: string;
  readonly rules: readonly string[];
}

/** Lexes and parses `text` with recovery; never throws on any text. */
export function recoverProgram(text: string, file: string): Recovered {
  const empty: A.Program = { file, imports: [], blocks: [], models: [] };
  let tokens: IToken[];
  try {
    tokens = csnLexer.tokenize(text).tokens;
  } catch (e) {
    if (isStackOverflow(e)) return { program: empty, tokens: [] };
    throw e;
  }
  csnParser.file = file;
  csnParser.badStrings = [];
  csnParser.names = new Map();
  csnParser.input = tokens;
  let program: A.Program = empty;
  try {
    program = clean(csnParser.program(), file);
  } catch (e) {
    if (!(e instanceof NestingTooDeep) && !isStackOverflow(e)) throw e;
  } finally {
    csnParser.input = [];
    csnParser.names = new Map();
  }
  return { program, tokens };
}

/**
 * The token types the grammar allows after `before` (the tokens of one top-level declaration,
 * from its keyword up to the cursor): bounded work however long the file is.
 */
export function nextTokens(before: readonly IToken[]): NextToken[] {
  try {
    return csnParser
      .computeContentAssist("program", before as IToken[])
      .map((p) => ({ token: p.nextTokenType.name, rules: p.ruleStack }));
  } catch (e) {
    if (isStackOverflow(e)) return [];
    throw e;
  }
}

// Recovery leaves `undefined` where a rule gave up, and placeholder spans (-1); keep only nodes
// whose parts are all there.
const isSpan = (s: unknown): s is A.Span =>
  typeof s === "object" &&
  s !== null &&
  Number.isInteger((s as A.Span).start) &&
  (s as A.Span).start >= 0 &&
  (s as A.Span).end >= (s as A.Span).start;

function okExpr(e: A.Expr | undefined): e is A.Expr {
  if (!e || !isSpan(e.span)) return false;
  switch (e.kind) {
    case "dims":
      return e.items.every(okExpr);
    case "binary":
      return okExpr(e.left) && okExpr(e.right);
    case "unary":
      return okExpr(e.operand);
    case "ternary":
      return okExpr(e.condition) && okExpr(e.then) && okExpr(e.otherwise);
    case "call":
      return e.args.every((a) => a && okExpr(a.value));
    default:
      return true;
  }
}

function cleanArgs(args: readonly (A.Arg | undefined)[] | undefined): A.Arg[] {
  return (args ?? []).filter((a): a is A.Arg => !!a && isSpan(a.span) && okExpr(a.value));
}

function cleanBody(body: readonly (A.Statement | undefined)[] | undefined): A.Statement[] {
  const out: A.Statement[] = [];
  for (const s of body ?? []) {
    if (!s || !isSpan(s.span)) continue;
    switch (s.kind) {
      case "input":
        if (okExpr(s.dims)) out.push(s);
        break;
      case "let":
        if (typeof s.name === "string" && okExpr(s.value)) out.push(s);
        break;
      case "stage":
        out.push({ ...s, body: cleanBody(s.body) });
        break;
      case "repeat":
        if (okExpr(s.count)) out.push({ ...s, body: cleanBody(s.body) });
        break;
      case "if":
        if (okExpr(s.condition))
          out.push({ ...s, then: cleanBody(s.then), otherwise: cleanBody(s.otherwise) });
        break;
      case "residual":
        out.push({
          ...s,
          args: cleanArgs(s.args),
          body: cleanBody(s.body),
          shortcut: s.shortcut && cleanBody(s.shortcut),
        });
        break;
      case "call":
        if (typeof s.callee === "string" && isSpan(s.calleeSpan))
          out.push({ ...s, args: cleanArgs(s.args) });
        break;
    }
  }
  return out;
}

function cleanDecl(d: A.BlockDecl | undefined): A.BlockDecl | undefined {
  if (!d || typeof d.name !== "string" || !isSpan(d.nameSpan) || !isSpan(d.span)) return undefined;
  const params = (d.params ?? []).filter(
    (p): p is A.ParamDecl =>
      !!p &&
      typeof p.name === "string" &&
      isSpan(p.span) &&
      (p.default === undefined || okExpr(p.default)) &&
      (p.type === undefined || isSpan(p.type.span)),
  );
  return { ...d, params, body: cleanBody(d.body) };
}

function clean(p: A.Program | undefined, file: string): A.Program {
  if (!p) return { file, imports: [], blocks: [], models: [] };
  const decls = (list: readonly (A.BlockDecl | undefined)[] | undefined) =>
    (list ?? []).map(cleanDecl).filter((d): d is A.BlockDecl => d !== undefined);
  return {
    file,
    imports: (p.imports ?? []).filter((i) => i && typeof i.path === "string" && isSpan(i.span)),
    blocks: decls(p.blocks),
    models: decls(p.models),
  };
}
