// User text made fit for messages: cut to a length, terminal controls made visible. Messages
// quote names, paths and source lines, and none of them may act on a terminal.

/** Messages, notes and hints are cut to this many characters (head and tail kept). */
export const maxMessageChars = 300;

/**
 * `text` cut to `max` characters with `…` in the middle: messages quote user text (names,
 * import paths), and a 60 MB identifier must not make a 60 MB diagnostic.
 */
export function clip(text: string, max = maxMessageChars): string {
  if (text.length <= max) return text;
  const tail = Math.floor(max / 5);
  let head = max - tail - 1;
  let from = text.length - tail;
  // Do not split a surrogate pair.
  if (/[\ud800-\udbff]/.test(text[head - 1]!)) head--;
  if (/[\udc00-\udfff]/.test(text[from]!)) from++;
  return `${text.slice(0, head)}…${text.slice(from)}`;
}

/** User text for a message: at most `max` characters (default 80), terminal controls escaped. */
export function quote(text: string, max = 80): string {
  return printable(clip(text, max));
}

// Characters a terminal would act on or hide: C0 and C1 controls (escape sequences) but tab,
// DEL, bidirectional controls, line separators, BOM, lone surrogates.
function unsafe(c: number): boolean {
  if (c < 0x20) return c !== 9;
  if (c < 0x7f) return false;
  return (
    c < 0xa0 ||
    c === 0x61c ||
    c === 0x200e ||
    c === 0x200f ||
    (c >= 0x2028 && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069) ||
    c === 0xfeff
  );
}

function escapeChar(code: number): string {
  return code < 0x80
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** `text` with terminal controls made visible (`\x1b`, `\u202e`); tabs stay. */
export function printable(text: string): string {
  let out = "";
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let bad = unsafe(c);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a pair: one character
        continue;
      }
      bad = true;
    } else if (c >= 0xdc00 && c <= 0xdfff) bad = true;
    if (!bad) continue;
    out += text.slice(last, i) + escapeChar(c);
    last = i + 1;
  }
  return last === 0 ? text : out + text.slice(last);
}
