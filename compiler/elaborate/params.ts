// Parameter binding: the parameters a model, block or layer declares, with their types and
// lazily evaluated defaults, and the binding of call arguments (or `--set`) to them.
import {
  Codes,
  didYouMean,
  error,
  type Arg,
  type BlockDecl,
  type Span,
} from "../../grammar/index.js";
import { CompileError, evaluate } from "../evaluate.js";
import type { LayerParam } from "../layers.js";
import { coerce, describeType, showValue, type ParamType, type Value } from "../values.js";
import { fail, withOrigin, type Context } from "./context.js";

/** A parameter as a block or a layer declares it. */
export interface Param {
  readonly name: string;
  readonly type: ParamType;
  readonly span?: Span;
  readonly default?: (bound: Map<string, Value>) => Value | undefined;
}

type Enums = ReadonlyMap<string, readonly string[]>;

/** Parameters of a block or model, with declared or inferred types and lazy defaults. */
export function declParams(decl: BlockDecl, enums: Enums): Param[] {
  return decl.params.map((p) => {
    let type: ParamType = { kind: "any" };
    if (p.type?.kind === "enum") type = { kind: "enum", members: p.type.members };
    else if (p.type?.kind === "named")
      type = p.type.name === "dims" ? { kind: "dims" } : ({ kind: p.type.name } as ParamType);
    const defaultExpr = p.default;
    const defaultFn = defaultExpr
      ? (bound: Map<string, Value>) => {
          const v = evaluate(defaultExpr, bound, enums);
          const c = coerce(v, type);
          if (!c) {
            throw new CompileError(
              error(
                Codes.typeMismatch,
                `default of '${p.name}' is ${v.type} ${showValue(v)}, but it is declared ${describeType(type)}`,
                defaultExpr.span,
              ),
            );
          }
          return c;
        }
      : undefined;
    if (!p.type && defaultExpr) {
      // Infer the type from the default's syntax so that `--set` and calls are checked.
      const lit = defaultExpr;
      if (lit.kind === "name" && enums.has(lit.name))
        type = { kind: "enum", members: enums.get(lit.name)! };
      else if (lit.kind === "int") type = { kind: "int" };
      else if (lit.kind === "float") type = { kind: "float" };
      else if (lit.kind === "bool") type = { kind: "bool" };
      else if (lit.kind === "dims") type = { kind: "dims" };
    }
    return { name: p.name, type, span: p.span, default: defaultFn };
  });
}

/** A built-in layer's parameter, its default a value or a function of the bound arguments. */
export function layerParam(p: LayerParam): Param {
  const d = p.default;
  return {
    name: p.name,
    type: p.type,
    default: d === undefined ? undefined : typeof d === "function" ? d : () => d,
  };
}

/** Binds call arguments to parameters: positional first, then named; applies defaults and types. */
export function bindArgs(
  args: readonly Arg[],
  params: readonly Param[],
  what: string,
  span: Span,
  ctx: Context,
  enums: Enums,
): Map<string, Value> {
  const given = new Map<string, { arg: Arg; value: Value }>();
  let position = 0;
  for (const a of args) {
    let p: Param | undefined;
    if (a.name === undefined) {
      p = params[position++];
      if (!p)
        throw fail(
          ctx,
          Codes.tooManyArguments,
          `${what} takes at most ${params.length} positional argument(s)`,
          a.span,
        );
    } else {
      p = params.find((q) => q.name === a.name);
      if (!p) {
        throw fail(
          ctx,
          Codes.unknownParam,
          `${what} has no parameter '${a.name}'`,
          a.span,
          didYouMean(
            a.name,
            params.map((q) => q.name),
          ),
        );
      }
    }
    if (given.has(p.name))
      throw fail(
        ctx,
        Codes.duplicateArgument,
        `argument '${p.name}' of ${what} is given twice`,
        a.span,
      );
    given.set(p.name, {
      arg: a,
      value: withOrigin(ctx, () => evaluate(a.value, ctx.scope, enums)),
    });
  }
  const bound = new Map<string, Value>();
  for (const p of params) {
    const g = given.get(p.name);
    if (g) {
      const v = coerce(g.value, p.type);
      if (!v) {
        throw fail(
          ctx,
          Codes.typeMismatch,
          `argument '${p.name}' of ${what} expects ${describeType(p.type)}, got ${g.value.type} ${showValue(g.value)}`,
          g.arg.span,
          p.type.kind === "enum" ? `one of: ${p.type.members.join(", ")}` : undefined,
        );
      }
      bound.set(p.name, v);
      continue;
    }
    const d = withOrigin(ctx, () => p.default?.(bound));
    if (!d)
      throw fail(
        ctx,
        Codes.missingArgument,
        `${what} needs an argument '${p.name}' (${describeType(p.type)})`,
        span,
      );
    bound.set(p.name, d);
  }
  return bound;
}

/** The model's parameters: the `--set` overrides, checked against them, then the defaults. */
export function bindModelParams(
  model: BlockDecl,
  params: readonly Param[],
  set: ReadonlyMap<string, Value>,
): Map<string, Value> {
  const scope = new Map<string, Value>();
  for (const [name, value] of set) {
    const p = params.find((q) => q.name === name);
    if (!p) {
      throw new CompileError(
        error(
          Codes.unknownParam,
          `model '${model.name}' has no parameter '${name}' (from --set)`,
          model.nameSpan,
          {
            hint:
              didYouMean(
                name,
                params.map((q) => q.name),
              ) ?? `its parameters are ${params.map((q) => q.name).join(", ") || "none"}`,
          },
        ),
      );
    }
    const v = coerce(value, p.type);
    if (!v) {
      throw new CompileError(
        error(
          Codes.typeMismatch,
          `--set ${name}=${showValue(value)}: parameter '${name}' expects ${describeType(p.type)}`,
          p.span,
        ),
      );
    }
    scope.set(name, v);
  }
  for (const p of params) {
    if (scope.has(p.name)) continue;
    const v = p.default?.(scope);
    if (!v) {
      throw new CompileError(
        error(Codes.missingArgument, `model parameter '${p.name}' has no default`, p.span, {
          hint: `give one, or pass --set ${p.name}=...`,
        }),
      );
    }
    scope.set(p.name, v);
  }
  return scope;
}
