// Evaluates .csn expressions: integer arithmetic (`/` floors), floats, booleans, enumeration
// members, and dims tuples with element-wise arithmetic (`kernel / 2`).
import { Codes, didYouMean, error, type Diagnostic, type Expr } from "../grammar/index.js";
import { builtinFunctions } from "./layers.js";
import { showValue, type Value } from "./values.js";

/** Thrown to abandon elaboration at the first semantic error; caught at the API boundary. */
export class CompileError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

/** Where expressions look names up (a Map will do). */
export interface Scope {
  get(name: string): Value | undefined;
  keys(): Iterable<string>;
}

const maxFunctionArgs = 10_000;

export function evaluate(
  e: Expr,
  scope: Scope,
  enums: ReadonlyMap<string, readonly string[]>,
): Value {
  if (e.kind !== "binary") return evaluateNode(e, scope, enums);
  // A chain `a + b + c + ...` nests to the left as deep as it is long: walk down its left
  // spine and fold back up in a loop instead of recursing once per term.
  const spine: Extract<Expr, { kind: "binary" }>[] = [];
  let leftmost: Expr = e;
  while (leftmost.kind === "binary") {
    spine.push(leftmost);
    leftmost = leftmost.left;
  }
  let acc = evaluateNode(leftmost, scope, enums);
  for (let i = spine.length - 1; i >= 0; i--) acc = combine(spine[i]!, acc, scope, enums);
  return acc;
}

function failAt(e: Expr) {
  return (message: string, hint?: string): never => {
    throw new CompileError(error(Codes.typeMismatch, message, e.span, { hint }));
  };
}

function intAt(e: Expr) {
  return (value: number): Value => {
    if (!Number.isSafeInteger(value)) {
      throw new CompileError(
        error(Codes.tooLarge, `integer result ${value} is out of range`, e.span),
      );
    }
    return { type: "int", value };
  };
}

// One binary node whose left operand is already evaluated.
function combine(
  e: Extract<Expr, { kind: "binary" }>,
  l: Value,
  scope: Scope,
  enums: ReadonlyMap<string, readonly string[]>,
): Value {
  const fail = failAt(e);
  if (e.op === "and" || e.op === "or") {
    if (l.type !== "bool") return fail(`'${e.op}' needs bools, got ${l.type}`);
    if (e.op === "and" ? !l.value : l.value) return l;
    const r = evaluate(e.right, scope, enums);
    return r.type === "bool" ? r : fail(`'${e.op}' needs bools, got ${r.type}`);
  }
  const r = evaluate(e.right, scope, enums);
  const v = binary(e.op, l, r, intAt(e), fail);
  if (v.type === "float" && !Number.isFinite(v.value))
    throw new CompileError(
      error(Codes.tooLarge, `float result ${v.value} is out of range`, e.span),
    );
  return v;
}

function evaluateNode(
  e: Exclude<Expr, { kind: "binary" }>,
  scope: Scope,
  enums: ReadonlyMap<string, readonly string[]>,
): Value {
  const fail = failAt(e);
  const int = intAt(e);
  switch (e.kind) {
    case "int":
      if (!Number.isSafeInteger(e.value))
        throw new CompileError(
          error(
            Codes.tooLarge,
            "integer literal is out of range: csnc integers go up to 2^53 - 1",
            e.span,
          ),
        );
      return int(e.value);
    case "float":
      // `1e400` reads as Infinity: refuse it rather than compute with it.
      if (!Number.isFinite(e.value))
        throw new CompileError(
          error(Codes.tooLarge, "number literal is out of range: it overflows to infinity", e.span),
        );
      return { type: "float", value: e.value };
    case "bool":
      return { type: "bool", value: e.value };
    case "string":
      return { type: "string", value: e.value };
    case "name": {
      const v = scope.get(e.name);
      if (v) return v;
      if (enums.has(e.name)) return { type: "enum", value: e.name };
      throw new CompileError(
        error(Codes.unknownName, `unknown name '${e.name}'`, e.span, {
          hint: didYouMean(e.name, [...scope.keys(), ...enums.keys()]),
        }),
      );
    }
    case "dims": {
      const items = e.items.map((item) => evaluate(item, scope, enums));
      return {
        type: "dims",
        value: items.map((v) =>
          v.type === "int"
            ? v.value
            : fail(`a dims item must be an int, got ${v.type} ${showValue(v)}`),
        ),
      };
    }
    case "call": {
      const fn = builtinFunctions[e.callee];
      if (!fn) return fail(`unknown function '${e.callee}'`);
      if (e.args.length === 0) return fail(`${e.callee}() needs at least one argument`);
      // A bound, so a call of millions of arguments ends in a diagnostic, not a long wait.
      if (e.args.length > maxFunctionArgs)
        return fail(
          `${e.callee}() takes at most ${maxFunctionArgs} arguments, got ${e.args.length}`,
        );
      const args = e.args.map((a) => evaluate(a.value, scope, enums));
      if (args.every((a) => a.type === "int")) return int(fn(args.map((a) => a.value as number)));
      if (args.every((a) => a.type === "int" || a.type === "float"))
        return { type: "float", value: fn(args.map((a) => a.value as number)) };
      return fail(`${e.callee}() takes numbers`);
    }
    case "unary": {
      const v = evaluate(e.operand, scope, enums);
      if (e.op === "not")
        return v.type === "bool"
          ? { type: "bool", value: !v.value }
          : fail(`'not' needs a bool, got ${v.type}`);
      if (v.type === "int") return int(-v.value);
      if (v.type === "float") return { type: "float", value: -v.value };
      return fail(`'-' needs a number, got ${v.type}`);
    }
    case "ternary": {
      const c = evaluate(e.condition, scope, enums);
      if (c.type !== "bool")
        return fail(`the condition of '? :' must be a bool, got ${c.type} ${showValue(c)}`);
      return evaluate(c.value ? e.then : e.otherwise, scope, enums);
    }
  }
}

function binary(
  op: string,
  l: Value,
  r: Value,
  int: (v: number) => Value,
  fail: (m: string, hint?: string) => never,
): Value {
  if (op === "==" || op === "!=") {
    const comparable = l.type === r.type || (isNumber(l) && isNumber(r));
    if (!comparable)
      fail(`cannot compare ${l.type} ${showValue(l)} with ${r.type} ${showValue(r)}`);
    const same = l.type === "dims" ? showValue(l) === showValue(r) : l.value === r.value;
    return { type: "bool", value: op === "==" ? same : !same };
  }
  if (l.type === "dims" || r.type === "dims") {
    const n = l.type === "dims" ? l.value.length : (r as { value: readonly number[] }).value.length;
    const items = (v: Value) =>
      v.type === "dims"
        ? v.value
        : v.type === "int"
          ? Array<number>(n).fill(v.value)
          : fail(`cannot combine dims with ${v.type}`);
    const a = items(l);
    const b = items(r);
    if (a.length !== b.length) fail(`dims of different lengths: ${a.join("x")} and ${b.join("x")}`);
    if (["<", "<=", ">", ">="].includes(op)) fail(`'${op}' compares numbers, not dims`);
    return {
      type: "dims",
      value: a.map((x, i) => (int(arith(op, x, b[i]!, true, fail)) as { value: number }).value),
    };
  }
  if (!isNumber(l) || !isNumber(r)) fail(`'${op}' needs numbers, got ${l.type} and ${r.type}`);
  const a = l.value as number;
  const b = r.value as number;
  switch (op) {
    case "<":
      return { type: "bool", value: a < b };
    case "<=":
      return { type: "bool", value: a <= b };
    case ">":
      return { type: "bool", value: a > b };
    case ">=":
      return { type: "bool", value: a >= b };
  }
  const ints = l.type === "int" && r.type === "int";
  const value = arith(op, a, b, ints, fail);
  return ints ? int(value) : { type: "float", value };
}

// Arithmetic on two numbers: on ints, `/` and `%` floor, as channel counts and paddings need.
function arith(
  op: string,
  a: number,
  b: number,
  ints: boolean,
  fail: (m: string, hint?: string) => never,
): number {
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      if (b === 0) return fail("division by zero");
      return ints ? Math.floor(a / b) : a / b;
    case "%":
      if (!ints) return fail(`'${op}' needs ints`);
      return b === 0 ? fail("division by zero") : a - b * Math.floor(a / b);
    case "**":
      return ints && b < 0 ? fail("negative exponent in integer '**'") : a ** b;
    default:
      return fail(ints ? `unknown operator '${op}'` : `'${op}' needs ints`);
  }
}

function isNumber(v: Value): v is Extract<Value, { type: "int" | "float" }> {
  return v.type === "int" || v.type === "float";
}
