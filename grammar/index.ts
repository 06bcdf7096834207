// Text -> AST. `parse` never throws: it returns a program when the text is well-formed, and
// every lexical and syntax error it found otherwise (chevrotain's recovery keeps it going).
import type { IRecognitionException, IToken, TokenType } from "chevrotain";
import type { Program } from "./ast.js";
import { Codes, error, type Diagnostic } from "./diagnostics.js";
import { csnParser } from "./parser.js";
import { csnLexer } from "./tokens.js";
import { AstBuilder } from "./to-ast.js";

export type * from "./ast.js";
export * from "./diagnostics.js";

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

// Turns chevrotain's exceptions into our messages and hints.
function syntaxDiagnostic(e: IRecognitionException, file: string, textLength: number): Diagnostic {
  const t = e.token;
  const isEof = t.tokenType?.name === "EOF" || Number.isNaN(t.startOffset);
  const start = isEof ? textLength : t.startOffset;
  const span = { file, start, end: isEof ? textLength : (t.endOffset ?? t.startOffset) + 1 };
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
};
function expectedWord(name: string): string {
  return punctuation[name] ?? `'${name.toLowerCase()}'`;
}

/** Parses one file's text. `file` is the name used in spans and messages. */
export function parse(text: string, file: string): ParseResult {
  const lexed = csnLexer.tokenize(text);
  const diagnostics: Diagnostic[] = lexed.errors.map((e) => {
    const ch = text.slice(e.offset, e.offset + e.length);
    return error(
      Codes.lexError,
      `unexpected character ${JSON.stringify(ch[0] ?? ch)}`,
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
  csnParser.input = lexed.tokens;
  const cst = csnParser.program();
  diagnostics.push(...csnParser.errors.map((e) => syntaxDiagnostic(e, file, text.length)));
  if (diagnostics.length > 0) return { diagnostics };
  return { program: new AstBuilder(file).program(cst), diagnostics };
}

export { describeType };
