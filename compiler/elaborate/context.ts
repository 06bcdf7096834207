// What the statement walk carries into a body: its names, its place in the path, and the calls
// that led there, which every error raised inside it points back at.
import { error, type Note, type Span } from "../../grammar/index.js";
import { CompileError, type Scope } from "../evaluate.js";
import type { Value } from "../values.js";

/**
 * A body's names: its own `let`s (and repeat index) over those of the bodies around it, linked
 * rather than copied, so a repeat over a scope of many names stays linear.
 */
export class LocalScope implements Scope {
  constructor(
    private readonly outer?: Scope,
    private readonly own = new Map<string, Value>(),
  ) {}
  get(name: string): Value | undefined {
    return this.own.get(name) ?? this.outer?.get(name);
  }
  set(name: string, value: Value): void {
    this.own.set(name, value);
  }
  *keys(): Generator<string> {
    yield* this.own.keys();
    if (this.outer) yield* this.outer.keys();
  }
}

export interface Context {
  readonly scope: LocalScope;
  /** Path segments of the enclosing stages, block instances and repeat iterations. */
  readonly prefix: readonly string[];
  readonly stage?: string;
  readonly block?: string;
  readonly origin: readonly Note[];
  readonly inModel: boolean;
}

// A chain of hundreds of calls and repeats would print a note each: the innermost few (where
// it went wrong) and the outermost few (where the model starts it) are shown, the rest counted.
const innermostNotes = 5;
const outermostNotes = 5;

/** The call chain as an error's notes, innermost first, its middle cut to a count. */
export function callNotes(origin: readonly Note[]): readonly Note[] {
  if (origin.length <= innermostNotes + outermostNotes + 1) return origin;
  const cut = origin.slice(innermostNotes, origin.length - outermostNotes);
  const calls = cut.every((n) => n.message.startsWith("in block ")) ? "calls" : "calls and repeats";
  return [
    ...origin.slice(0, innermostNotes),
    { message: `... and ${cut.length} more ${calls}` },
    ...origin.slice(origin.length - outermostNotes),
  ];
}

/** An error at `span`, with the call chain that led there as notes. */
export function fail(
  ctx: Context,
  code: number,
  message: string,
  span: Span,
  hint?: string,
): CompileError {
  return new CompileError(error(code, message, span, { notes: callNotes(ctx.origin), hint }));
}

/** Runs `f`; errors raised while evaluating expressions get the call chain attached. */
export function withOrigin<T>(ctx: Context, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CompileError && e.diagnostic.notes.length === 0 && ctx.origin.length > 0) {
      throw new CompileError({ ...e.diagnostic, notes: callNotes(ctx.origin) });
    }
    throw e;
  }
}
