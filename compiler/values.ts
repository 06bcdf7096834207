// Values of the .csn expression language and the types parameters can declare.

export type Value =
  | { readonly type: "int"; readonly value: number }
  | { readonly type: "float"; readonly value: number }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "string"; readonly value: string }
  /** A bare name that is a member of a declared enumeration, e.g. `ir`. */
  | { readonly type: "enum"; readonly value: string }
  /** A tuple such as a kernel `3x3x3` or an input `3x32x224x224`. */
  | { readonly type: "dims"; readonly value: readonly number[] };

/** A declared parameter type. `dims3` is a kernel, stride or padding: an int broadcasts to it. */
export type ParamType =
  | { readonly kind: "int" }
  | { readonly kind: "float" }
  | { readonly kind: "bool" }
  | { readonly kind: "string" }
  | { readonly kind: "dims"; readonly length?: number }
  | { readonly kind: "enum"; readonly members: readonly string[] }
  | { readonly kind: "any" };

export const typeNames = ["int", "float", "bool", "string", "dims"] as const;

export function describeType(t: ParamType): string {
  switch (t.kind) {
    case "enum":
      return t.members.join(" | ");
    case "dims":
      return t.length
        ? `dims of ${t.length} (e.g. ${Array(t.length).fill(3).join("x")}) or an int`
        : "dims";
    default:
      return t.kind;
  }
}

export function showValue(v: Value): string {
  switch (v.type) {
    case "dims":
      return v.value.join("x");
    case "string":
      return JSON.stringify(v.value);
    default:
      return String(v.value);
  }
}

/** The value converted to `t`, or undefined when it does not fit (ints widen to floats and dims). */
export function coerce(v: Value, t: ParamType): Value | undefined {
  switch (t.kind) {
    case "any":
      return v;
    case "int":
    case "bool":
    case "string":
      return v.type === t.kind ? v : undefined;
    case "float":
      if (v.type === "float") return v;
      return v.type === "int" ? { type: "float", value: v.value } : undefined;
    case "enum":
      return v.type === "enum" && t.members.includes(v.value) ? v : undefined;
    case "dims":
      if (v.type === "int") return { type: "dims", value: Array(t.length ?? 1).fill(v.value) };
      if (v.type === "dims" && (t.length === undefined || v.value.length === t.length)) return v;
      return undefined;
  }
}

/** The type a parameter gets from its default when it declares none. */
export function typeOfValue(v: Value): ParamType {
  return v.type === "enum"
    ? { kind: "any" }
    : v.type === "dims"
      ? { kind: "dims" }
      : { kind: v.type };
}

/** A parameter value as JavaScript gives it: what `--set` would write, or a Value itself. */
export type ParamInput = number | boolean | string | readonly number[] | Value;

const valueTypes = new Set(["int", "float", "bool", "string", "enum", "dims"]);

/**
 * `x` as a Value: an integer is an int and any other finite number a float; a name-like string
 * an enum member (as `--set mode=ir`), another string a string; whole numbers in an array
 * dims; a Value as it is. Undefined for anything else.
 */
export function valueOf(x: unknown): Value | undefined {
  if (typeof x === "number")
    return Number.isSafeInteger(x)
      ? { type: "int", value: x }
      : Number.isFinite(x)
        ? { type: "float", value: x }
        : undefined;
  if (typeof x === "boolean") return { type: "bool", value: x };
  if (typeof x === "string")
    return { type: /^[A-Za-z_]\w*$/.test(x) ? "enum" : "string", value: x };
  if (Array.isArray(x))
    return x.length && x.every((d) => Number.isSafeInteger(d) && d >= 0)
      ? { type: "dims", value: [...(x as number[])] }
      : undefined;
  if (typeof x === "object" && x !== null && "type" in x && "value" in x) {
    const { type, value } = x as { type: unknown; value: unknown };
    if (typeof type !== "string" || !valueTypes.has(type)) return undefined;
    // A Value's value is a primitive or an array: never walk into an object (it may be cyclic).
    if (typeof value === "object" && !Array.isArray(value)) return undefined;
    const v = valueOf(value);
    if (!v) return undefined;
    if (type === "float" && v.type === "int") return { type: "float", value: v.value };
    if (type === "string" && v.type === "enum") return { type: "string", value: v.value };
    return v.type === type ? v : undefined;
  }
  return undefined;
}
