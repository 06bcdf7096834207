// Bound arguments read by type. Binding has already coerced every argument to its declared
// type, so a value of another type here means the layer table and its reader disagree: a csnc
// bug, reported as one rather than read through a cast.
import type { Triple } from "../ir.js";
import type { Value } from "../values.js";

type Of<T extends Value["type"]> = Extract<Value, { type: T }>;

export class BoundArgs {
  constructor(
    private readonly values: ReadonlyMap<string, Value>,
    /** Whose arguments, for the bug report: `layer 'conv'`, `residual`. */
    private readonly what: string,
  ) {}

  has(name: string): boolean {
    return this.values.has(name);
  }
  int(name: string): number {
    return this.get(name, "int").value;
  }
  float(name: string): number {
    return this.get(name, "float").value;
  }
  bool(name: string): boolean {
    return this.get(name, "bool").value;
  }
  member(name: string): string {
    return this.get(name, "enum").value;
  }
  /** A kernel, stride or padding: dims of exactly three. */
  triple(name: string): Triple {
    const v = this.get(name, "dims").value;
    if (v.length !== 3) throw this.bug(name, `${v.length} dims`, "3 dims");
    return [v[0]!, v[1]!, v[2]!];
  }

  private get<T extends Value["type"]>(name: string, type: T): Of<T> {
    const v = this.values.get(name);
    if (v?.type !== type) throw this.bug(name, v?.type ?? "missing", type);
    return v as Of<T>;
  }
  private bug(name: string, got: string, want: string): Error {
    return new Error(`csnc bug: argument '${name}' of ${this.what} is ${got}, not ${want}`);
  }
}
