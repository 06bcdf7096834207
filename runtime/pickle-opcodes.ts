// The opcodes torch.save writes, one entry each: what it reads after the opcode and what it
// does to the stack. STOP is not here: it ends the machine's loop (pickle.ts).
import type { PickleMachine } from "./pickle-machine.js";
import { call, global, persistent } from "./pickle-torch.js";
import { describe, type PickleValue } from "./pickle-values.js";

type Opcode = (m: PickleMachine) => void;

export const STOP = 0x2e;

export const opcodes: ReadonlyMap<number, Opcode> = new Map<number, Opcode>([
  [0x80, (m) => void m.u8()], // PROTO
  [0x95, (m) => (m.need(8), (m.at += 8))], // FRAME
  [0x7d, (m) => m.push(new Map())], // EMPTY_DICT
  [0x5d, (m) => m.push([])], // EMPTY_LIST
  [0x29, (m) => m.push([])], // EMPTY_TUPLE
  [0x28, (m) => m.mark()], // MARK
  [0x71, (m) => m.remember(m.u8())], // BINPUT
  [0x72, (m) => m.remember(m.u32())], // LONG_BINPUT
  [0x94, (m) => m.remember(m.memoSize)], // MEMOIZE
  [0x68, (m) => m.push(m.recall(m.u8()))], // BINGET
  [0x6a, (m) => m.push(m.recall(m.u32()))], // LONG_BINGET
  [0x58, (m) => m.push(m.str(m.u32()))], // BINUNICODE
  [0x8c, (m) => m.push(m.str(m.u8()))], // SHORT_BINUNICODE
  [0x55, (m) => m.push(m.str(m.u8()))], // SHORT_BINSTRING
  [0x54, (m) => m.push(m.str(m.u32()))], // BINSTRING
  [0x43, (m) => m.push(m.raw(m.u8()))], // SHORT_BINBYTES
  [0x4b, (m) => m.push(m.u8())], // BININT1
  [0x4d, (m) => m.push(m.u16())], // BININT2
  [0x4a, (m) => m.push(m.i32())], // BININT
  [0x8a, (m) => m.push(m.long(m.u8()))], // LONG1
  [0x47, (m) => m.push(m.f64())], // BINFLOAT
  [0x4e, (m) => m.push(null)], // NONE
  [0x88, (m) => m.push(true)], // NEWTRUE
  [0x89, (m) => m.push(false)], // NEWFALSE
  [0x74, (m) => m.push(m.popMark())], // TUPLE
  [0x85, (m) => m.push([m.pop()])], // TUPLE1
  [0x86, (m) => m.push(m.pop2())], // TUPLE2
  [0x87, (m) => m.push(m.pop3())], // TUPLE3
  [0x61, (m) => append(m, [m.pop()])], // APPEND
  [0x65, (m) => append(m, m.popMark())], // APPENDS
  [0x73, (m) => setItems(m, "SETITEM", m.pop2())], // SETITEM
  [0x75, (m) => setItems(m, "SETITEMS", m.popMark())], // SETITEMS
  [0x63, (m) => m.push(global(m, m.line(), m.line()))], // GLOBAL
  [0x93, stackGlobal], // STACK_GLOBAL
  [0x52, (m) => m.push(reduce(m))], // REDUCE
  [0x81, (m) => m.push(reduce(m))], // NEWOBJ
  [0x62, (m) => void m.pop()], // BUILD: state for an OrderedDict or a parameter; nothing to apply
  [0x51, (m) => m.push(persistent(m, m.pop()))], // BINPERSID
]);

// A loop: spreading a million items into push() would overflow the call stack.
function append(m: PickleMachine, items: PickleValue[]): void {
  const list = m.list();
  for (const v of items) list.push(v);
}

function setItems(m: PickleMachine, op: string, items: PickleValue[]): void {
  const dict = m.dict(op);
  for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i]!, items[i + 1]!);
}

function stackGlobal(m: PickleMachine): void {
  const name = m.pop();
  const module = m.pop();
  if (typeof name !== "string" || typeof module !== "string")
    m.fail(`a global named by ${describe(module)} and ${describe(name)}`);
  m.push(global(m, module as string, name as string));
}

function reduce(m: PickleMachine): PickleValue {
  const args = m.pop();
  return call(m, m.pop(), args);
}
