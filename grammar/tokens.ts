// The token vocabulary of .csn files. Order matters: chevrotain tries tokens in list order,
// so longer or more specific patterns come before the ones they would otherwise lose to.
import { createToken, Lexer, type TokenType } from "chevrotain";

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /\s+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: "Comment", pattern: /#[^\n\r]*/, group: Lexer.SKIPPED });

export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

// Keywords use Identifier as longer_alt so that `inputs` or `xsize` stay identifiers.
function keyword(word: string): TokenType {
  return createToken({
    name: word[0]!.toUpperCase() + word.slice(1),
    pattern: word,
    longer_alt: Identifier,
  });
}

export const Import = keyword("import");
export const Block = keyword("block");
export const Model = keyword("model");
export const Input = keyword("input");
export const Let = keyword("let");
export const Stage = keyword("stage");
export const Repeat = keyword("repeat");
export const As = keyword("as");
export const If = keyword("if");
export const Else = keyword("else");
export const Residual = keyword("residual");
export const Shortcut = keyword("shortcut");
export const True = keyword("true");
export const False = keyword("false");
export const And = keyword("and");
export const Or = keyword("or");
export const Not = keyword("not");
/** The dimension separator in `3 x 7 x 7`; written without spaces, `3x7x7` is one DimsLiteral. */
export const Times = createToken({ name: "Times", pattern: "x", longer_alt: Identifier });

// Scanners in loops for the two tokens whose regular expressions would repeat a group once per
// item or character: on a token of megabytes, the regex engine's backtracking runs out of stack.
const digits = "0123456789".split("");
const isDigit = (c: number) => c >= 48 && c <= 57;

/** `\d+(?:x\d+)+`, as a loop. */
function matchDims(text: string, offset: number): [string] | null {
  let i = offset;
  while (i < text.length && isDigit(text.charCodeAt(i))) i++;
  if (i === offset) return null;
  let items = 1;
  while (text.charCodeAt(i) === 120 && isDigit(text.charCodeAt(i + 1))) {
    i += 2;
    while (i < text.length && isDigit(text.charCodeAt(i))) i++;
    items++;
  }
  return items > 1 ? [text.slice(offset, i)] : null;
}

/** `"(?:[^"\\\n\r]|\\.)*"`, as a loop. */
export function matchString(text: string, offset: number): [string] | null {
  if (text.charCodeAt(offset) !== 34) return null;
  for (let i = offset + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) return [text.slice(offset, i + 1)];
    if (c === 10 || c === 13) return null;
    if (c === 92) {
      const next = text.charCodeAt(i + 1);
      // `.` matches anything but a line terminator.
      if (Number.isNaN(next) || next === 10 || next === 13 || next === 0x2028 || next === 0x2029)
        return null;
      i++;
    }
  }
  return null;
}

// Numbers: a dims literal and a float must be tried before a plain integer.
export const DimsLiteral = createToken({
  name: "DimsLiteral",
  pattern: { exec: matchDims },
  start_chars_hint: digits,
  line_breaks: false,
});
export const FloatLiteral = createToken({
  name: "FloatLiteral",
  pattern: /\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\.\d+(?:[eE][+-]?\d+)?/,
});
export const IntegerLiteral = createToken({ name: "IntegerLiteral", pattern: /\d+/ });
export const StringLiteral = createToken({
  name: "StringLiteral",
  pattern: { exec: matchString },
  start_chars_hint: ['"'],
  line_breaks: false,
});

export const Power = createToken({ name: "Power", pattern: "**" });
export const Star = createToken({ name: "Star", pattern: "*" });
export const Slash = createToken({ name: "Slash", pattern: "/" });
export const Percent = createToken({ name: "Percent", pattern: "%" });
export const Plus = createToken({ name: "Plus", pattern: "+" });
export const Minus = createToken({ name: "Minus", pattern: "-" });
export const EqEq = createToken({ name: "EqEq", pattern: "==" });
export const NotEq = createToken({ name: "NotEq", pattern: "!=" });
export const LessEq = createToken({ name: "LessEq", pattern: "<=" });
export const GreaterEq = createToken({ name: "GreaterEq", pattern: ">=" });
export const Less = createToken({ name: "Less", pattern: "<" });
export const Greater = createToken({ name: "Greater", pattern: ">" });
export const Assign = createToken({ name: "Assign", pattern: "=" });
export const Question = createToken({ name: "Question", pattern: "?" });
export const Colon = createToken({ name: "Colon", pattern: ":" });
export const Pipe = createToken({ name: "Pipe", pattern: "|" });
export const Comma = createToken({ name: "Comma", pattern: "," });
export const LParen = createToken({ name: "LParen", pattern: "(" });
export const RParen = createToken({ name: "RParen", pattern: ")" });
export const LBrace = createToken({ name: "LBrace", pattern: "{" });
export const RBrace = createToken({ name: "RBrace", pattern: "}" });

export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  Import,
  Block,
  Model,
  Input,
  Let,
  Stage,
  Repeat,
  As,
  If,
  Else,
  Residual,
  Shortcut,
  True,
  False,
  And,
  Or,
  Not,
  Times,
  Identifier,
  DimsLiteral,
  FloatLiteral,
  IntegerLiteral,
  StringLiteral,
  Power,
  Star,
  Slash,
  Percent,
  Plus,
  Minus,
  EqEq,
  NotEq,
  LessEq,
  GreaterEq,
  Less,
  Greater,
  Assign,
  Question,
  Colon,
  Pipe,
  Comma,
  LParen,
  RParen,
  LBrace,
  RBrace,
];

// Offsets only (a token's end is its start plus its length): lines and columns are computed
// when a diagnostic is printed, and a 10 MB file has millions of tokens.
export const csnLexer = new Lexer(allTokens, {
  positionTracking: "onlyOffset",
  ensureOptimizations: false,
});
