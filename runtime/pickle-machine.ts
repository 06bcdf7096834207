// The pickle virtual machine's state: a cursor over the bytes, the stack with its marks, and
// the memo. Every read is bounds-checked and every value built is counted, so hostile bytes end
// in an error that says what is wrong, never in a crash or an exhausted heap.
import { badFile } from "./errors.js";
import { describe, type PickleValue, type StorageRef } from "./pickle-values.js";

/**
 * At most this many values and memo entries per pickle (a dict counts 4: it is the heaviest).
 * A checkpoint's pickle builds a few dozen per tensor; without a cap, 64 MiB of one-byte
 * EMPTY_DICT opcodes would build 64 million dicts and exhaust the heap.
 */
export const maxPickleValues = 4_000_000;

export class PickleMachine {
  readonly stack: PickleValue[] = [];
  /** Every storage the persistent ids name, by key. */
  readonly storages = new Map<string, StorageRef>();
  at: number;
  private readonly view: DataView;
  private readonly text = new TextDecoder();
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PickleValue>();
  private built = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
    start: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = start;
  }

  fail(why: string): never {
    throw badFile(`${this.file}: cannot read the checkpoint's pickle: ${why}`);
  }

  // The cursor.
  need(n: number): void {
    if (this.at + n > this.bytes.length) this.fail("it ends too early (truncated?)");
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.at++]!;
  }
  u16(): number {
    return this.fixed(2, (at) => this.view.getUint16(at, true));
  }
  u32(): number {
    return this.fixed(4, (at) => this.view.getUint32(at, true));
  }
  i32(): number {
    return this.fixed(4, (at) => this.view.getInt32(at, true));
  }
  /** BINFLOAT's double is big-endian, unlike the integers. */
  f64(): number {
    return this.fixed(8, (at) => this.view.getFloat64(at, false));
  }
  /** `n` raw bytes, copied. */
  raw(n: number): Uint8Array {
    this.need(n);
    return this.bytes.slice(this.at, (this.at += n));
  }
  /** `n` bytes as UTF-8 text. */
  str(n: number): string {
    this.need(n);
    return this.text.decode(this.bytes.subarray(this.at, (this.at += n)));
  }
  /** Text up to the next newline, which is skipped. */
  line(): string {
    const end = this.bytes.indexOf(10, this.at);
    if (end < 0) this.fail("it ends too early (truncated?)");
    const s = this.text.decode(this.bytes.subarray(this.at, end));
    this.at = end + 1;
    return s;
  }
  /** A little-endian two's complement integer of `n` bytes; a number when it is safe. */
  long(n: number): number | bigint {
    this.need(n);
    const { bytes, at } = this;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]!);
    if (n > 0 && bytes[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    this.at += n;
    return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  }

  // The stack.
  push(v: PickleValue): void {
    this.grow(v instanceof Map ? 4 : 1);
    this.stack.push(v);
  }
  pop(): PickleValue {
    return this.stack.length ? this.stack.pop()! : this.fail("the stack is empty");
  }
  /** The top two values, taken off the stack, in stack order. */
  pop2(): [PickleValue, PickleValue] {
    const b = this.pop();
    return [this.pop(), b];
  }
  /** The top three values, taken off the stack, in stack order. */
  pop3(): [PickleValue, PickleValue, PickleValue] {
    const c = this.pop();
    const b = this.pop();
    return [this.pop(), b, c];
  }
  top(): PickleValue {
    return this.stack.length ? this.stack.at(-1)! : this.fail("the stack is empty");
  }
  mark(): void {
    this.marks.push(this.stack.length);
  }
  /** The values above the last mark, taken off the stack. */
  popMark(): PickleValue[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail("a MARK is missing");
    return this.stack.splice(m);
  }
  /** The list on top, for APPEND(S). */
  list(): PickleValue[] {
    const l = this.top();
    return Array.isArray(l) ? l : this.fail(`APPEND to ${describe(l)}, which is not a list`);
  }
  /** The dict on top, for `op`. */
  dict(op: string): Map<PickleValue, PickleValue> {
    const d = this.top();
    return d instanceof Map ? d : this.fail(`${op} on ${describe(d)}, which is not a dict`);
  }

  // The memo.
  get memoSize(): number {
    return this.memo.size;
  }
  remember(key: number): void {
    this.grow(1);
    this.memo.set(key, this.top());
  }
  recall(key: number): PickleValue {
    return this.memo.has(key) ? this.memo.get(key)! : this.fail("an unknown memo entry");
  }

  /** A number of `n` bytes at the cursor, which moves past it. */
  private fixed(n: number, read: (at: number) => number): number {
    this.need(n);
    this.at += n;
    return read(this.at - n);
  }

  private grow(cost: number): void {
    if ((this.built += cost) > maxPickleValues)
      this.fail(
        `it builds more than ${maxPickleValues} values (a checkpoint's pickle needs a few dozen per tensor)`,
      );
  }
}
