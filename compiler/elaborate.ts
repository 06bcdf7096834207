// Elaboration: runs a model's body with concrete parameter values and produces the graph IR,
// one node per layer, inferring every shape on the way. Block calls and repeats are expanded;
// each layer remembers the calls that produced it so errors can point at them.
import {
  Codes,
  didYouMean,
  error,
  type Arg,
  type BlockDecl,
  type Note,
  type Span,
  type Statement,
} from "../grammar/index.js";
import { CompileError, evaluate, type Scope } from "./evaluate.js";
import type { Graph, Node, Op, Shape, Triple } from "./ir.js";
import { lookupLayer, residualParams, type LayerParam } from "./layers.js";
import type { Library } from "./resolve.js";
import { flatFeatures, inferShape, tooManyElements } from "./shapes.js";
import { coerce, describeType, showValue, type ParamType, type Value } from "./values.js";

export interface ElaborateOptions {
  /** Parameter overrides (`--set k=v`), already parsed. */
  readonly set?: ReadonlyMap<string, Value>;
  /** Replaces the declared input: C, T, H, W. */
  readonly input?: readonly [number, number, number, number];
  readonly batch?: number;
}

// Guards against programs that would expand forever or beyond any real network.
const maxNodes = 200_000;
const maxSteps = 2_000_000;
// Bodies inside bodies, across block calls: each level is a few stack frames here.
const maxDepth = 1_000;

/**
 * A body's names: its own `let`s (and repeat index) over those of the bodies around it, linked
 * rather than copied, so a repeat over a scope of many names stays linear.
 */
class LocalScope implements Scope {
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

interface Context {
  readonly scope: LocalScope;
  /** Path segments of the enclosing stages, block instances and repeat iterations. */
  readonly prefix: readonly string[];
  readonly stage?: string;
  readonly block?: string;
  readonly origin: readonly Note[];
  readonly inModel: boolean;
}

/** A parameter as a block or a layer declares it. */
interface Param {
  readonly name: string;
  readonly type: ParamType;
  readonly span?: Span;
  readonly default?: (bound: Map<string, Value>) => Value | undefined;
}

export function elaborate(
  model: BlockDecl,
  library: Library,
  options: ElaborateOptions = {},
): Graph {
  return new Elaborator(library, options).run(model);
}

class Elaborator {
  private readonly nodes: Node[] = [];
  private readonly paths = new Set<string>();
  private readonly instances = new Set<string>();
  // The next suffix to try per base name: with thousands of unnamed `relu`s in one scope,
  // probing `relu_1`, `relu_2`, ... from 1 each time would be quadratic. Names are never
  // freed, so every suffix below the counter is taken.
  private readonly nextSuffix = new Map<string, number>();
  private depth = 0;
  /** The file's own `input` statement, for callers that compare it with a clip. */
  private fileInput?: readonly [number, number, number, number];
  private current: number | undefined;
  private steps = 0;
  private declaredInput = false;

  constructor(
    private readonly library: Library,
    private readonly options: ElaborateOptions,
  ) {}

  run(model: BlockDecl): Graph {
    const params = this.declParams(model);
    const scope = new Map<string, Value>();
    for (const [name, value] of this.options.set ?? []) {
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
    const hasInputStmt = model.body.some((s) => s.kind === "input");
    if (!hasInputStmt && !this.options.input) {
      throw new CompileError(
        error(Codes.missingInput, `model '${model.name}' declares no input`, model.nameSpan, {
          hint: "add a line such as 'input 3x16x112x112' to the model, or pass --input CxTxHxW",
        }),
      );
    }
    if (!hasInputStmt) this.makeInput(this.options.input!, model.nameSpan);
    this.body(model.body, {
      scope: new LocalScope(undefined, scope),
      prefix: [],
      origin: [],
      inModel: true,
    });
    if (this.current === undefined) {
      throw new CompileError(
        error(Codes.badValue, `model '${model.name}' has no layers`, model.nameSpan),
      );
    }
    return {
      model: model.name,
      file: model.span.file,
      params: Object.fromEntries(params.map((p) => [p.name, scope.get(p.name)!])),
      ...(this.fileInput ? { declaredInput: this.fileInput } : {}),
      nodes: this.nodes,
      output: this.current,
    };
  }

  // Parameters of a block or model, with declared or inferred types and lazily evaluated defaults.
  private declParams(decl: BlockDecl): Param[] {
    return decl.params.map((p) => {
      let type: ParamType = { kind: "any" };
      if (p.type?.kind === "enum") type = { kind: "enum", members: p.type.members };
      else if (p.type?.kind === "named")
        type = p.type.name === "dims" ? { kind: "dims" } : ({ kind: p.type.name } as ParamType);
      const defaultExpr = p.default;
      const defaultFn = defaultExpr
        ? (bound: Map<string, Value>) => {
            const v = evaluate(defaultExpr, bound, this.library.enums);
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
        if (lit.kind === "name" && this.library.enums.has(lit.name))
          type = { kind: "enum", members: this.library.enums.get(lit.name)! };
        else if (lit.kind === "int") type = { kind: "int" };
        else if (lit.kind === "float") type = { kind: "float" };
        else if (lit.kind === "bool") type = { kind: "bool" };
        else if (lit.kind === "dims") type = { kind: "dims" };
      }
      return { name: p.name, type, span: p.span, default: defaultFn };
    });
  }

  private body(statements: readonly Statement[], ctx: Context): void {
    // A lone block call in a stage or repeat body adds no path segment: `res2.0.conv_a`.
    const structural = statements.filter((s) => s.kind !== "let");
    const lone = structural.length === 1 ? structural[0] : undefined;
    if (++this.depth > maxDepth && statements.length > 0) {
      this.depth--;
      throw this.fail(
        ctx,
        Codes.recursion,
        `layers nest more than ${maxDepth} levels deep (stages, repeats, ifs, residuals and block calls together)`,
        statements[0]!.span,
        "flatten the nesting: repeat a block instead of nesting blocks in blocks",
      );
    }
    try {
      for (const s of statements) this.statement(s, ctx, s === lone);
    } finally {
      this.depth--;
    }
  }

  private tick(span: Span): void {
    if (++this.steps > maxSteps || this.nodes.length > maxNodes) {
      throw new CompileError(
        error(
          Codes.tooLarge,
          `the model expands to more than ${maxNodes} layers or ${maxSteps} steps`,
          span,
          {
            hint: "check repeat counts and depth parameters",
          },
        ),
      );
    }
  }

  private statement(s: Statement, ctx: Context, lone: boolean): void {
    this.tick(s.span);
    const eval_ = (e: Parameters<typeof evaluate>[0]) =>
      this.withOrigin(ctx, () => evaluate(e, ctx.scope, this.library.enums));
    switch (s.kind) {
      case "input": {
        if (!ctx.inModel)
          throw this.fail(
            ctx,
            Codes.badValue,
            "'input' belongs in a model, not in a block",
            s.span,
          );
        if (this.declaredInput)
          throw this.fail(ctx, Codes.duplicateName, "the model declares its input twice", s.span);
        const v = eval_(s.dims);
        if (v.type !== "dims" || v.value.length !== 4) {
          throw this.fail(
            ctx,
            Codes.typeMismatch,
            `input must be C x T x H x W (4 dims), got ${showValue(v)}`,
            s.span,
            "e.g. input 3x32x224x224",
          );
        }
        if (this.current !== undefined)
          throw this.fail(ctx, Codes.badValue, "'input' must come before the first layer", s.span);
        this.fileInput = v.value as [number, number, number, number];
        this.makeInput(this.options.input ?? this.fileInput, s.span);
        return;
      }
      case "let":
        ctx.scope.set(s.name, eval_(s.value));
        return;
      case "stage":
        this.body(s.body, {
          ...ctx,
          scope: new LocalScope(ctx.scope),
          prefix: [...ctx.prefix, s.name],
          stage: s.name,
          block: undefined,
        });
        return;
      case "repeat": {
        const n = eval_(s.count);
        if (n.type !== "int" || n.value < 0) {
          throw this.fail(
            ctx,
            Codes.typeMismatch,
            `repeat count must be a non-negative int, got ${showValue(n)}`,
            s.span,
          );
        }
        for (let i = 0; i < n.value; i++) {
          const scope = new LocalScope(ctx.scope);
          if (s.index) scope.set(s.index, { type: "int", value: i });
          const origin = [
            { message: `in iteration ${i} of this repeat`, span: s.span },
            ...ctx.origin,
          ];
          this.body(s.body, {
            ...ctx,
            scope,
            prefix: [...ctx.prefix, String(i)],
            origin,
            block: [...ctx.prefix, String(i)].join("."),
          });
        }
        return;
      }
      case "if": {
        const c = eval_(s.condition);
        if (c.type !== "bool")
          throw this.fail(
            ctx,
            Codes.typeMismatch,
            `'if' needs a bool condition, got ${c.type} ${showValue(c)}`,
            s.span,
          );
        // Branches share the enclosing scope's path, so a layer keeps its name whichever branch made it.
        this.body(c.value ? s.then : s.otherwise, { ...ctx, scope: new LocalScope(ctx.scope) });
        return;
      }
      case "residual":
        this.residual(s, ctx);
        return;
      case "call":
        if (lookupLayer(s.callee)) this.layer(s, ctx);
        else this.blockCall(s, ctx, lone);
        return;
    }
  }

  private residual(s: Extract<Statement, { kind: "residual" }>, ctx: Context): void {
    const args = this.bind(
      s.args,
      residualParams.map((p) => layerParam(p)),
      "residual",
      s.span,
      ctx,
    );
    const input = this.requireInput(ctx, s.span);
    this.body(s.body, { ...ctx, scope: new LocalScope(ctx.scope) });
    const main = this.current!;
    const mainShape = this.nodes[main]!.shape;
    const inShape = this.nodes[input]!.shape;
    let shortcut = input;
    const mode = (args.get("shortcut") as { value: string }).value;
    const scCtx: Context = {
      ...ctx,
      scope: new LocalScope(ctx.scope),
      prefix: [...ctx.prefix, "shortcut"],
    };
    if (s.shortcut) {
      this.current = input;
      this.body(s.shortcut, scCtx);
      shortcut = this.current;
    } else if (mode === "project" || (mode === "auto" && !sameShape(mainShape, inShape))) {
      const stride = inferStride(inShape, mainShape);
      if (!stride) {
        throw this.fail(
          ctx,
          Codes.residualMismatch,
          `no 1x1x1 projection maps the residual's input ${inShape.slice(1).join("x")} to its output ${mainShape.slice(1).join("x")} (C x T x H x W)`,
          s.span,
          "give an explicit path with 'residual { ... } shortcut { ... }'",
        );
      }
      const conv: Op = {
        kind: "conv",
        outChannels: mainShape[1],
        kernel: [1, 1, 1],
        stride,
        pad: [0, 0, 0],
        groups: 1,
        bias: false,
        depthwise: false,
      };
      const eps = (args.get("eps") as { value: number }).value;
      this.current = input;
      this.addNode(conv, [input], s.span, scCtx, "conv");
      this.addNode({ kind: "bn", eps }, [this.current], s.span, scCtx, "bn");
      shortcut = this.current;
    }
    this.addNode({ kind: "add" }, [main, shortcut], s.span, ctx, "add");
  }

  private layer(s: Extract<Statement, { kind: "call" }>, ctx: Context): void {
    const sig = lookupLayer(s.callee)!;
    const args = this.bind(s.args, sig.params.map(layerParam), `layer '${s.callee}'`, s.span, ctx);
    const input = this.requireInput(ctx, s.span);
    const inShape = this.nodes[input]!.shape;
    const int = (name: string) => (args.get(name) as { value: number }).value;
    const triple = (name: string) =>
      (args.get(name) as { value: readonly number[] }).value as unknown as Triple;
    const expectIn = args.has("in") ? int("in") : 0;
    const channels = sig.word === "fc" ? flatFeatures(inShape) : inShape[1];
    if (expectIn !== 0 && expectIn !== channels) {
      throw this.fail(
        ctx,
        Codes.channelMismatch,
        `${s.callee} expects ${expectIn} input ${sig.word === "fc" ? "features" : "channels"} (in = ${expectIn}), but its input has ${channels} (shape ${inShape.slice(1).join("x")})`,
        s.span,
        "fix the channel counts of the layers before it, or drop 'in' to take them from the input",
      );
    }
    let op: Op;
    let name: string = sig.word;
    switch (sig.word) {
      case "conv":
        op = {
          kind: "conv",
          outChannels: int("out"),
          kernel: triple("kernel"),
          stride: triple("stride"),
          pad: triple("pad"),
          groups: int("groups"),
          bias: bool(args, "bias"),
          depthwise: false,
        };
        break;
      case "dwconv":
        op = {
          kind: "conv",
          outChannels: inShape[1],
          kernel: triple("kernel"),
          stride: triple("stride"),
          pad: triple("pad"),
          groups: inShape[1],
          bias: bool(args, "bias"),
          depthwise: true,
        };
        name = "conv";
        break;
      case "bn":
        op = { kind: "bn", eps: (args.get("eps") as { value: number }).value };
        break;
      case "maxpool":
        op = {
          kind: "maxpool",
          kernel: triple("kernel"),
          stride: triple("stride"),
          pad: triple("pad"),
        };
        name = "pool";
        break;
      case "avgpool": {
        const kernel = triple("kernel");
        op = kernel.every((k) => k === 0)
          ? { kind: "global_avgpool" }
          : { kind: "avgpool", kernel, stride: triple("stride"), pad: triple("pad") };
        name = "pool";
        break;
      }
      case "fc":
        op = { kind: "fc", outFeatures: int("out"), bias: bool(args, "bias") };
        break;
      case "dropout":
        op = { kind: "dropout", p: (args.get("p") as { value: number }).value };
        break;
      case "relu":
        op = { kind: "relu" };
        break;
      case "softmax":
        op = { kind: "softmax" };
        break;
      default:
        // The layer table and this switch disagree: a csnc bug, not the user's.
        throw new Error(`layer word '${sig.word}' has no op`);
    }
    this.addNode(op, [input], s.span, ctx, s.label ?? name);
  }

  private blockCall(s: Extract<Statement, { kind: "call" }>, ctx: Context, lone: boolean): void {
    const decl = this.library.blocks.get(s.callee)!;
    if (ctx.origin.length > 200) {
      throw this.fail(
        ctx,
        Codes.recursion,
        `block calls nest too deeply at '${s.callee}'`,
        s.span,
        "use 'repeat' instead of recursion",
      );
    }
    const origin = [
      { message: `in block '${decl.name}' called here`, span: s.span },
      ...ctx.origin,
    ];
    const inner: Context = { ...ctx, origin };
    const scope = this.bind(s.args, this.declParams(decl), `block '${decl.name}'`, s.span, inner);
    const segment = s.label ?? (lone ? undefined : decl.name);
    const prefix =
      segment === undefined ? ctx.prefix : [...ctx.prefix, this.uniqueSegment(ctx.prefix, segment)];
    this.body(decl.body, {
      scope: new LocalScope(undefined, scope),
      prefix,
      stage: ctx.stage,
      block: prefix.join(".") || decl.name,
      origin,
      inModel: false,
    });
  }

  // Binds call arguments to parameters: positional first, then named; applies defaults and types.
  private bind(
    args: readonly Arg[],
    params: readonly Param[],
    what: string,
    span: Span,
    ctx: Context,
  ): Map<string, Value> {
    const given = new Map<string, { arg: Arg; value: Value }>();
    let position = 0;
    for (const a of args) {
      let p: Param | undefined;
      if (a.name === undefined) {
        p = params[position++];
        if (!p)
          throw this.fail(
            ctx,
            Codes.tooManyArguments,
            `${what} takes at most ${params.length} positional argument(s)`,
            a.span,
          );
      } else {
        p = params.find((q) => q.name === a.name);
        if (!p) {
          throw this.fail(
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
        throw this.fail(
          ctx,
          Codes.duplicateArgument,
          `argument '${p.name}' of ${what} is given twice`,
          a.span,
        );
      given.set(p.name, {
        arg: a,
        value: this.withOrigin(ctx, () => evaluate(a.value, ctx.scope, this.library.enums)),
      });
    }
    const bound = new Map<string, Value>();
    for (const p of params) {
      const g = given.get(p.name);
      if (g) {
        const v = coerce(g.value, p.type);
        if (!v) {
          throw this.fail(
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
      const d = this.withOrigin(ctx, () => p.default?.(bound));
      if (!d)
        throw this.fail(
          ctx,
          Codes.missingArgument,
          `${what} needs an argument '${p.name}' (${describeType(p.type)})`,
          span,
        );
      bound.set(p.name, d);
    }
    return bound;
  }

  // Two calls of the same block in one scope become `blk` and `blk_1`.
  private uniqueSegment(prefix: readonly string[], segment: string): string {
    const base = [...prefix, segment].join(".");
    const key = this.unique(this.instances, base);
    return key === base ? segment : `${segment}${key.slice(base.length)}`;
  }

  // `base` if free, else `base_k` with the smallest free k; taken into `names`.
  private unique(names: Set<string>, base: string): string {
    let name = base;
    if (names.has(name)) {
      const counter = `${names === this.paths ? "p" : "i"}:${base}`;
      let k = this.nextSuffix.get(counter) ?? 1;
      while (names.has(`${base}_${k}`)) k++;
      this.nextSuffix.set(counter, k + 1);
      name = `${base}_${k}`;
    }
    names.add(name);
    return name;
  }

  private requireInput(ctx: Context, span: Span): number {
    if (this.current === undefined)
      throw this.fail(
        ctx,
        Codes.missingInput,
        "a layer comes before the model's 'input' declaration",
        span,
        "declare 'input C x T x H x W' first",
      );
    return this.current;
  }

  private makeInput(dims: readonly number[], span: Span): void {
    this.declaredInput = true;
    const batch = this.options.batch ?? 1;
    const shape = [batch, ...dims] as unknown as Shape;
    if (shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new CompileError(
        error(
          Codes.dimensionZero,
          `input shape ${shape.join("x")} (N x C x T x H x W) must be positive in every dimension`,
          span,
        ),
      );
    }
    const big = tooManyElements("the input", shape);
    if (big)
      throw new CompileError(
        error(Codes.tensorTooLarge, big, span, {
          hint: "declare a smaller input (or give --input)",
        }),
      );
    this.nodes.push({
      id: 0,
      path: "input",
      op: { kind: "input" },
      inputs: [],
      shape,
      span,
      origin: [],
    });
    this.paths.add("input");
    this.current = 0;
  }

  private addNode(op: Op, inputs: number[], span: Span, ctx: Context, name: string): void {
    const result = inferShape(
      op,
      inputs.map((i) => this.nodes[i]!.shape),
    );
    if (!("shape" in result)) throw this.fail(ctx, result.code, result.message, span, result.hint);
    const path = this.unique(this.paths, [...ctx.prefix, name].join("."));
    const id = this.nodes.length;
    this.nodes.push({
      id,
      path,
      op,
      inputs,
      shape: result.shape,
      span,
      stage: ctx.stage,
      block: ctx.block,
      origin: ctx.origin,
    });
    this.current = id;
  }

  private fail(
    ctx: Context,
    code: number,
    message: string,
    span: Span,
    hint?: string,
  ): CompileError {
    return new CompileError(error(code, message, span, { notes: ctx.origin, hint }));
  }

  // Errors raised while evaluating expressions get the call chain attached.
  private withOrigin<T>(ctx: Context, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof CompileError && e.diagnostic.notes.length === 0 && ctx.origin.length > 0) {
        throw new CompileError({ ...e.diagnostic, notes: ctx.origin });
      }
      throw e;
    }
  }
}

function layerParam(p: LayerParam): Param {
  const d = p.default;
  return {
    name: p.name,
    type: p.type,
    default: d === undefined ? undefined : typeof d === "function" ? d : () => d,
  };
}

function bool(args: Map<string, Value>, name: string): boolean {
  return (args.get(name) as { value: boolean }).value;
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.every((d, i) => d === b[i]);
}

// The stride s per axis for which a 1x1x1 conv maps `from` to `to`: ceil(in / s) = out.
function inferStride(from: Shape, to: Shape): Triple | undefined {
  const stride: number[] = [];
  for (let i = 2; i < 5; i++) {
    const [a, b] = [from[i]!, to[i]!];
    const s = Math.max(1, Math.ceil(a / b));
    if (Math.floor((a - 1) / s) + 1 !== b) return undefined;
    stride.push(s);
  }
  return stride as unknown as Triple;
}
