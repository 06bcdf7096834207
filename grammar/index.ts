// Text -> AST. `parse` never throws: it returns a program when the text is well-formed, and
// every lexical and syntax error it found otherwise (chevrotain's recovery keeps it going), or
// one diagnostic for a binary file or nesting past `maxNesting`.
import type { IRecognitionException, IToken, TokenType } from "chevrotain";
import type { Program } from "./ast.js";
import { Codes } from "./codes.js";
import { error, maxCollectedPerFile, omittedDiagnostics, type Diagnostic } from "./diagnostics.js";
import { csnParser, maxNesting, NestingTooDeep } from "./parser.js";
import { partitionPoint } from "./search.js";
import { csnLexer, matchString } from "./tokens.js";
import { tokenEnd, tokenSpan } from "./to-ast.js";

export type * from "./ast.js";
export * from "./codes.js";
export * from "./diagnostics.js";
export * from "./render.js";
export * from "./suggest.js";
export * from "./text.js";
export * from "./search.js";

export interface ParseResult {
  readonly program?: Program;
  readonly diagnostics: readonly Diagnostic[];
}

const tokenWords: Record<string, string> = {
  Identifier: "a name",
  DimsLiteral: "a dims literal such as 3x3x3",
  FloatLiteral: "a number",
  IntegerLiteral: "an integer",
  StringLiteral: "a string",
  Times: "'x'",
};

function describeType(t: TokenType): string {
  if (tokenWords[t.name]) return tokenWords[t.name]!;
  const pattern = t.PATTERN;
  return typeof pattern === "string" ? `'${pattern}'` : t.name;
}

function describeToken(t: IToken): string {
  return t.tokenType.name === "EOF" ? "the end of the file" : `'${t.image}'`;
}

const ruleWords: Record<string, string> = {
  program: "at the top level (expected 'import', 'block' or 'model')",
  statement:
    "where a statement was expected (a layer, block call, 'let', 'stage', 'repeat', 'if', 'residual' or 'input')",
  primary: "where a value was expected",
  notExpr: "where a value was expected",
  unaryExpr: "where a value was expected",
  expr: "where a value was expected",
  param: "in a parameter list",
  typeExpr: "where a type was expected",
};

/** What is said of an `x` written where a name goes. */
const reservedXMessage = "'x' is reserved (it writes dimensions, as in 3x3x3): pick another name";

/** The index in `tokens` (sorted by offset) of `t`, or `tokens.length` for the end of the file. */
function indexOfToken(t: IToken, tokens: readonly IToken[]): number {
  if (Number.isNaN(t.startOffset)) return tokens.length;
  return partitionPoint(tokens.length, (i) => tokens[i]!.startOffset < t.startOffset);
}

function startsLine(t: IToken, text: string): boolean {
  for (let i = t.startOffset - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) return true;
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}

/**
 * The `x` an error is about, when it stands where a name goes. `x` is the dims operator
 * (`k x k x k`) and no name: the parser stops at it (`let x = 3`, `model m(x: int)`, `x()` as a
 * statement), or, at the start of a line after an expression (`let a = 3`, then `x()` or
 * `x: conv(...)`), reads it as the operator and stops at the `)` or `:` after it. A doubled
 * `x x` is a slip of the operator, not a name.
 */
function reservedX(t: IToken, tokens: readonly IToken[], text: string): IToken | undefined {
  const i = indexOfToken(t, tokens);
  const isTimes = (u: IToken | undefined) => u?.tokenType.name === "Times";
  if (isTimes(t)) return isTimes(tokens[i - 1]) ? undefined : t;
  const name = ["RParen", "Colon"].includes(t.tokenType?.name ?? "")
    ? tokens[i - 1]?.tokenType.name === "LParen"
      ? tokens[i - 2]
      : tokens[i - 1]
    : undefined;
  return isTimes(name) && startsLine(name!, text) ? name : undefined;
}

// Turns chevrotain's exceptions into our messages and hints.
function syntaxDiagnostic(e: IRecognitionException, file: string, textLength: number): Diagnostic {
  const t = e.token;
  const isEof = t.tokenType?.name === "EOF" || Number.isNaN(t.startOffset);
  const start = isEof ? textLength : t.startOffset;
  const span = { file, start, end: isEof ? textLength : Math.max(start + 1, tokenEnd(t)) };
  const found = isEof ? "the end of the file" : describeToken(t);
  const rule = e.context?.ruleStack?.at(-1) ?? "";
  let message: string;
  let hint: string | undefined;
  switch (e.name) {
    case "MismatchedTokenException": {
      const expected = e.message.match(/-->\s*(\w+)\s*<--/)?.[1];
      const word = expected ? (tokenWords[expected] ?? expectedWord(expected)) : "something else";
      message = `expected ${word} but found ${found}`;
      if (expected === "RBrace") hint = "every '{' needs a matching '}'";
      if (expected === "RParen")
        hint = "every '(' needs a matching ')'; separate arguments with ','";
      break;
    }
    case "NotAllInputParsedException":
      message = `unexpected ${found} ${ruleWords.program}`;
      if (t.image === "}") hint = "this '}' closes nothing: is there one too many?";
      break;
    case "NoViableAltException":
    case "EarlyExitException":
      message = `unexpected ${found} ${ruleWords[rule] ?? `in ${rule}`}`;
      if (isEof) hint = "the file ends too early: is a '}' or ')' missing?";
      break;
    default:
      message = e.message;
  }
  return error(Codes.syntaxError, message, span, { hint });
}

const punctuation: Record<string, string> = {
  LBrace: "'{'",
  RBrace: "'}'",
  LParen: "'('",
  RParen: "')'",
  Assign: "'='",
  Colon: "':'",
  Comma: "','",
  // Where the top level stops: anything but a declaration.
  EOF: "'import', 'block' or 'model'",
};
function expectedWord(name: string): string {
  return punctuation[name] ?? `'${name.toLowerCase()}'`;
}

// A .csn file is UTF-8 text. NUL bytes, or many control characters and undecodable bytes
// (U+FFFD from the decoder), mean it is something else: parsing it would only print garbage.
function notText(text: string): string | undefined {
  if (text.includes("\0")) return "it holds NUL bytes";
  let odd = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (
      (c < 32 && c !== 9 && c !== 10 && c !== 12 && c !== 13) ||
      (c >= 0x7f && c < 0xa0) ||
      c === 0xfffd
    )
      odd++;
  }
  return odd >= 8 && odd * 10 > text.length
    ? `${odd} of its ${text.length} characters are control characters or invalid UTF-8`
    : undefined;
}

/**
 * Tokens (and dims items) a file may have. Lexing and the AST take memory in proportion, up to
 * about 350 bytes each (a file of distinct unknown layer names: 3.9 million took 1.4 GB): two
 * million bound a check to about 700 MB. The largest real network has a few thousand.
 */
export const maxTokens = 2_000_000;

// An upper bound on the tokens the lexer would make, counted before making them: runs of
// letters and digits (plus one per `x` between digits, for dims items), each other character,
// strings; comments and spaces count nothing.
function countTokens(text: string): number {
  let n = 0;
  const word = (c: number) =>
    (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) i++;
    else if (c === 35) {
      while (i < text.length && text.charCodeAt(i) !== 10 && text.charCodeAt(i) !== 13) i++;
    } else if (c === 34) {
      n++;
      i += matchString(text, i)?.[0].length ?? 1;
    } else if (word(c)) {
      n++;
      for (i++; i < text.length && word(text.charCodeAt(i)); i++) {
        if (text.charCodeAt(i) === 120 && i + 1 < text.length) {
          const next = text.charCodeAt(i + 1);
          if (next >= 48 && next <= 57) n++;
        }
      }
    } else {
      n++;
      i++;
    }
  }
  return n;
}

function tooDeep(file: string, at: number, end: number): Diagnostic {
  return error(
    Codes.nestingTooDeep,
    `nesting deeper than ${maxNesting} levels`,
    { file, start: at, end: Math.max(end, at + 1) },
    {
      hint: "name parts with 'let' or split them into blocks; bodies, brackets, argument lists, '? :', '-', 'not', '**' and 'else if' each add a level",
    },
  );
}

/** Whether `e` is V8's stack overflow, which deep recursion ends in. */
export function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message);
}

/** Parses one file's text. `file` is the name used in spans and messages. */
export function parse(text: string, file: string): ParseResult {
  const binary = notText(text);
  if (binary) {
    return {
      diagnostics: [
        error(Codes.notText, `${file} is not a text file: ${binary}`, undefined, {
          hint: ".csn files are UTF-8 text; is this the right file?",
        }),
      ],
    };
  }
  const tokens = countTokens(text);
  if (tokens > maxTokens) {
    return {
      diagnostics: [
        error(
          Codes.fileTooLarge,
          `${file} is too large: it has about ${tokens.toLocaleString("en")} tokens, and csnc reads files of up to ${maxTokens.toLocaleString("en")}`,
          undefined,
          { hint: "describe repeated layers with 'repeat' or a block instead of writing each out" },
        ),
      ],
    };
  }
  let lexed;
  try {
    lexed = csnLexer.tokenize(text);
  } catch (e) {
    if (!isStackOverflow(e)) throw e;
    return {
      diagnostics: [error(Codes.lexError, `${file} has a token too long to read`, undefined)],
    };
  }
  // Each kind of error comes in text order: the first `maxCollectedPerFile` of each, merged,
  // hold the first of all; the rest are only counted.
  const total = lexed.errors.length;
  const diagnostics: Diagnostic[] = lexed.errors.slice(0, maxCollectedPerFile).map((e) => {
    const ch = text.slice(e.offset, e.offset + e.length);
    return error(
      Codes.lexError,
      `unexpected character ${JSON.stringify(String.fromCodePoint(text.codePointAt(e.offset) ?? 0))}`,
      { file, start: e.offset, end: e.offset + Math.max(1, e.length) },
      {
        hint: ch.startsWith("//")
          ? "comments start with '#'"
          : ch.startsWith('"')
            ? "strings end on the same line with '\"'"
            : undefined,
      },
    );
  });
  csnParser.file = file;
  csnParser.badStrings = [];
  csnParser.names = new Map();
  csnParser.input = lexed.tokens;
  let program: Program;
  try {
    program = csnParser.program();
  } catch (e) {
    // Past the nesting limit, or (a smaller stack than expected) out of stack on the way there.
    const t =
      e instanceof NestingTooDeep
        ? e.token
        : isStackOverflow(e)
          ? csnParser.nextToken()
          : undefined;
    csnParser.input = []; // drop the tokens
    if (!t) throw e;
    const at = Number.isNaN(t.startOffset) ? text.length : t.startOffset;
    diagnostics.push(tooDeep(file, at, tokenEnd(t)));
    return { diagnostics };
  }
  // A loop, not push(...): garbage has hundreds of thousands of errors, and a spread of them
  // overflows the stack. An `x` where a name goes is said to be reserved, once: the errors
  // right after it (`let a = x + 1` stops at `x`, then at `+`) are dropped.
  const reserved = new Set<IToken>();
  let dropped = 0;
  for (const e of csnParser.errors.slice(0, maxCollectedPerFile)) {
    const x = reservedX(e.token, lexed.tokens, text);
    if (x) {
      if (reserved.has(x)) dropped++;
      else diagnostics.push(error(Codes.syntaxError, reservedXMessage, tokenSpan(file, x)));
      reserved.add(x);
      continue;
    }
    const before = lexed.tokens[indexOfToken(e.token, lexed.tokens) - 1];
    if (before && reserved.has(before)) dropped++;
    else diagnostics.push(syntaxDiagnostic(e, file, text.length));
  }
  for (const t of csnParser.badStrings.slice(0, maxCollectedPerFile)) {
    diagnostics.push(
      error(
        Codes.lexError,
        'this string holds a control character or an unknown escape (strings know \\", \\\\, \\n, \\t and \\uXXXX)',
        tokenSpan(file, t),
        { hint: t.image.includes("\\") ? "paths take '/' between folders, not '\\'" : undefined },
      ),
    );
  }
  const count = total + csnParser.errors.length - dropped + csnParser.badStrings.length;
  csnParser.input = [];
  csnParser.names = new Map();
  if (diagnostics.length > 0) {
    const kept = sortByPosition(diagnostics).slice(0, maxCollectedPerFile);
    if (count > kept.length) kept.push(omittedDiagnostics(file, count - kept.length));
    return { diagnostics: kept };
  }
  return { program, diagnostics };
}

// Lexer, parser and string errors in the order of the text.
function sortByPosition(diagnostics: Diagnostic[]): Diagnostic[] {
  return diagnostics
    .map((d, i) => ({ d, i }))
    .sort((a, b) => (a.d.span?.start ?? 0) - (b.d.span?.start ?? 0) || a.i - b.i)
    .map(({ d }) => d);
}

export { describeType, maxNesting };
