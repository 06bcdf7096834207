// Generators of hostile .csn text for test/hostile-source.test.ts.

/** A model whose body (from line 3) is `body`. */
export function modelWith(body: string): string {
  return `model m {\n  input 3x4x8x8\n  ${body}\n}\n`;
}

/** `open` n times, `inner`, `close` n times: `((((1))))`. */
export function deep(open: string, inner: string, close: string, n: number): string {
  return open.repeat(n) + inner + close.repeat(n);
}

/** `term op term op ... term`, n terms. */
export function chain(term: string, op: string, n: number): string {
  return Array<string>(n).fill(term).join(op);
}
