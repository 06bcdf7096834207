// The canonical layout of a .csn file, from its tokens and comments (format-items.ts): two
// spaces per body, continuation lines of a list aligned after its '(', one space around '=',
// binary operators, 'x' and '|', none before ':' of a label or parameter, one blank line between
// declarations, at most one anywhere else, trailing comments of a run of lines aligned. A body
// written on one line stays on one line; one broken anywhere gets one statement per line. Line
// breaks the author put inside an expression or a list are kept, so long lines stay readable.
import type { Item } from "./format-items.js";

interface Line {
  indent: number;
  code: string;
  comment?: string;
  blankBefore: number;
}

/** Tokens after which a '-' is binary: the ends of operands. */
const operandEnds = new Set([
  "Identifier",
  "IntegerLiteral",
  "FloatLiteral",
  "DimsLiteral",
  "StringLiteral",
  "RParen",
  "True",
  "False",
]);
const declarationWords = new Set(["Import", "Block", "Model"]);

/** Which braces hold a body broken over lines (a line break or a comment between them). */
function brokenBraces(items: readonly Item[]): Set<number> {
  const broken = new Set<number>();
  const open: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const kind = items[i]!.kind;
    if (kind === "LBrace") open.push(i);
    else if (kind === "RBrace") {
      const from = open.pop();
      if (from === undefined) continue;
      for (let j = from + 1; j <= i; j++) {
        if (items[j]!.breaks > 0 || items[j]!.kind === "Comment") {
          broken.add(from);
          broken.add(i);
          break;
        }
      }
    }
  }
  return broken;
}

/**
 * Lays out `items` (a file that parses). `statementStarts`: offsets where a statement of a
 * body begins, which start a line in a broken body.
 */
export function layout(items: readonly Item[], statementStarts: ReadonlySet<number>): string {
  const broken = brokenBraces(items);
  const lines: Line[] = [];
  const braces: boolean[] = []; // broken or not, innermost last
  const parens: number[] = []; // the column after each open '(', innermost last
  let cur: Line | undefined;
  let prev: Item | undefined; // the previous token (not comment)
  let prevIndex = -1;
  let prevItem: Item | undefined;
  let prevUnary = false;
  let questions = 0;
  let lastDeclaration = "";

  const newLine = (indent: number, blankBefore: number) => {
    cur = { indent, code: "", blankBefore: lines.length === 0 ? 0 : blankBefore };
    lines.push(cur);
  };

  for (let k = 0; k < items.length; k++) {
    const item = items[k]!;
    const kind = item.kind;
    const inBody = braces.length > 0;
    const bodyBroken = braces.at(-1) ?? true; // the top level is one long broken body
    const topLevel = !inBody && parens.length === 0;
    const blankInSource = Math.min(1, Math.max(0, item.breaks - 1));

    // Does this item start a line, and is that a continuation of the line before?
    let starts: boolean;
    let continuation = false;
    if (!cur || prevItem?.kind === "Comment") starts = true;
    else if (kind === "Comment") starts = item.breaks > 0;
    else if ((kind === "Else" || kind === "Shortcut") && prev?.kind === "RBrace") starts = false;
    else if (kind === "RBrace") starts = broken.has(k);
    else if (prev?.kind === "LBrace" && broken.has(prevIndex)) starts = true;
    else if (topLevel && declarationWords.has(kind)) starts = true;
    else if (statementStarts.has(item.start) && bodyBroken && prev?.kind !== "Else") starts = true;
    else {
      starts = item.breaks > 0;
      continuation = starts;
    }

    if (starts) {
      let blank = blankInSource;
      if (parens.length > 0 || prev?.kind === "LBrace" || kind === "RBrace") blank = 0;
      // A declaration's end, or the last import, and what follows right after it.
      else if (topLevel && prevItem?.kind === "RBrace") blank = 1;
      else if (
        topLevel &&
        prevItem === prev &&
        lastDeclaration === "Import" &&
        (kind === "Block" || kind === "Model")
      )
        blank = 1;
      let indent: number;
      if (parens.length > 0) indent = parens.at(-1)!;
      else {
        indent = 2 * (kind === "RBrace" ? braces.length - 1 : braces.length);
        if (continuation && kind !== "Comment") indent += 4;
      }
      newLine(Math.max(0, indent), blank);
    }
    const line = cur!;

    if (kind === "Comment") {
      if (line.code === "") line.code = item.image;
      else line.comment = item.image;
      prevItem = item;
      continue;
    }

    // The space between the previous token and this one, on the same line.
    let sep = " ";
    const p = prev?.kind ?? "";
    if (line.code === "") sep = "";
    else if (kind === "RParen" || kind === "Comma") sep = "";
    else if (p === "LParen") sep = "";
    else if (p === "Minus" && prevUnary) sep = "";
    else if (kind === "LParen") sep = p === "Identifier" || p === "Residual" ? "" : " ";
    else if (kind === "Colon") sep = questions > 0 ? " " : "";
    else if (kind === "RBrace" && p === "LBrace") sep = "";
    line.code += sep + item.image;

    if (kind === "Minus") prevUnary = !operandEnds.has(p);
    if (kind === "Question") questions++;
    if (kind === "Colon" && questions > 0) questions--;
    if (kind === "LParen") parens.push(line.indent + line.code.length);
    if (kind === "RParen") parens.pop();
    if (kind === "LBrace") braces.push(broken.has(k));
    if (kind === "RBrace") braces.pop();
    if (topLevel && declarationWords.has(kind)) lastDeclaration = kind;
    prev = item;
    prevIndex = k;
    prevItem = item;
  }
  return render(lines);
}

// Lines as text; the trailing comments of a run of lines (no blank line between them) line up
// two columns past the longest code line among those with a trailing comment.
function render(lines: readonly Line[]): string {
  const out: string[] = [];
  for (let i = 0; i < lines.length;) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1]!.blankBefore === 0) j++;
    let width = 0;
    for (const l of lines.slice(i, j + 1))
      if (l.comment !== undefined) width = Math.max(width, l.indent + l.code.length);
    for (let k = i; k <= j; k++) {
      const l = lines[k]!;
      if (l.blankBefore > 0) out.push("");
      const code = " ".repeat(l.indent) + l.code;
      out.push(l.comment === undefined ? code : code.padEnd(width + 2) + l.comment);
    }
    i = j + 1;
  }
  return out.length === 0 ? "" : out.join("\n") + "\n";
}
