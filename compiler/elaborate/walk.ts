// The statement walk: runs a body with concrete values, expanding stages, repeats, ifs,
// residuals and block calls into layers, each named by its path. Every layer remembers the
// calls that produced it, so errors can point at them.
import { Codes, type Statement } from "../../grammar/index.js";
import { evaluate } from "../evaluate.js";
import { lookupLayer, residualParams } from "../layers.js";
import type { Library } from "../resolve.js";
import { flatFeatures } from "../shapes.js";
import { showValue } from "../values.js";
import { BoundArgs } from "./args.js";
import type { GraphBuilder } from "./builder.js";
import { fail, LocalScope, withOrigin, type Context } from "./context.js";
import { layerOp } from "./layer-ops.js";
import { bindArgs, declParams, layerParam, type Param } from "./params.js";
import { inferShortcut } from "./residual.js";

// Bodies inside the model's body, across block calls. Each level is a few stack frames here
// (body, statement, block call or residual): about 0.7 KB, so some 700 KB of Node's default
// 984 KB at this depth; past it, `checkFile` reports the overflow (CSN1004), never a crash.
// Recursion never gets here: the binder refuses it before any model is built.
const maxDepth = 1_000;

type Input = readonly [number, number, number, number];
type Call = Extract<Statement, { kind: "call" }>;
type Residual = Extract<Statement, { kind: "residual" }>;

export class Walker {
  /** The file's own `input` statement, for callers that compare it with a clip. */
  fileInput?: Input;
  /** How deep the body being walked is: the model's own body is level 0. */
  private depth = -1;
  /** The blocks whose bodies are being walked, the call stack. */
  private readonly active = new Set<string>();

  constructor(
    private readonly graph: GraphBuilder,
    private readonly library: Library,
    /** Replaces the declared input (`--input`). */
    private readonly input: Input | undefined,
  ) {}

  body(statements: readonly Statement[], ctx: Context): void {
    // A lone block call in a stage or repeat body adds no path segment: `res2.0.conv_a`.
    const structural = statements.filter((s) => s.kind !== "let");
    const lone = structural.length === 1 ? structural[0] : undefined;
    if (++this.depth > maxDepth && statements.length > 0) {
      this.depth--;
      throw fail(
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

  private statement(s: Statement, ctx: Context, lone: boolean): void {
    this.graph.tick(s.span);
    const eval_ = (e: Parameters<typeof evaluate>[0]) =>
      withOrigin(ctx, () => evaluate(e, ctx.scope, this.library.enums));
    switch (s.kind) {
      case "input": {
        if (!ctx.inModel)
          throw fail(ctx, Codes.badValue, "'input' belongs in a model, not in a block", s.span);
        if (this.graph.hasInput)
          throw fail(ctx, Codes.duplicateName, "the model declares its input twice", s.span);
        const v = eval_(s.dims);
        if (v.type !== "dims" || v.value.length !== 4) {
          throw fail(
            ctx,
            Codes.typeMismatch,
            `input must be C x T x H x W (4 dims), got ${showValue(v)}`,
            s.span,
            "e.g. input 3x32x224x224",
          );
        }
        if (this.graph.current !== undefined)
          throw fail(ctx, Codes.badValue, "'input' must come before the first layer", s.span);
        this.fileInput = v.value as unknown as Input;
        this.graph.makeInput(this.input ?? this.fileInput, s.span);
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
          throw fail(
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
          throw fail(
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

  // A layer's or residual's arguments, bound and read by type.
  private bind(s: Call | Residual, params: readonly Param[], what: string, ctx: Context) {
    return new BoundArgs(bindArgs(s.args, params, what, s.span, ctx, this.library.enums), what);
  }

  private residual(s: Residual, ctx: Context): void {
    const args = this.bind(s, residualParams.map(layerParam), "residual", ctx);
    const graph = this.graph;
    const input = graph.requireInput(ctx, s.span);
    this.body(s.body, { ...ctx, scope: new LocalScope(ctx.scope) });
    const main = graph.current!;
    const scCtx: Context = {
      ...ctx,
      scope: new LocalScope(ctx.scope),
      prefix: [...ctx.prefix, "shortcut"],
    };
    let shortcut = input;
    if (s.shortcut) {
      graph.current = input;
      this.body(s.shortcut, scCtx);
      shortcut = graph.current;
    } else {
      const [inShape, mainShape] = [graph.shapeOf(input), graph.shapeOf(main)];
      const conv = inferShortcut(args.member("shortcut"), inShape, mainShape);
      if (conv === "none fits") {
        throw fail(
          ctx,
          Codes.residualMismatch,
          `no 1x1x1 projection maps the residual's input ${inShape.slice(1).join("x")} to its output ${mainShape.slice(1).join("x")} (C x T x H x W)`,
          s.span,
          "give an explicit path with 'residual { ... } shortcut { ... }'",
        );
      }
      if (conv) {
        const eps = args.float("eps");
        graph.current = input;
        graph.addNode(conv, [input], s.span, scCtx, "conv");
        graph.addNode({ kind: "bn", eps }, [graph.current], s.span, scCtx, "bn");
        shortcut = graph.current;
      }
    }
    graph.addNode({ kind: "add" }, [main, shortcut], s.span, ctx, "add");
  }

  private layer(s: Call, ctx: Context): void {
    const sig = lookupLayer(s.callee)!;
    const args = this.bind(s, sig.params.map(layerParam), `layer '${s.callee}'`, ctx);
    const input = this.graph.requireInput(ctx, s.span);
    const inShape = this.graph.shapeOf(input);
    const expectIn = args.has("in") ? args.int("in") : 0;
    const channels = sig.word === "fc" ? flatFeatures(inShape) : inShape[1];
    if (expectIn !== 0 && expectIn !== channels) {
      throw fail(
        ctx,
        Codes.channelMismatch,
        `${s.callee} expects ${expectIn} input ${sig.word === "fc" ? "features" : "channels"} (in = ${expectIn}), but its input has ${channels} (shape ${inShape.slice(1).join("x")})`,
        s.span,
        "fix the channel counts of the layers before it, or drop 'in' to take them from the input",
      );
    }
    const { op, name } = layerOp(sig.word, args, inShape);
    this.graph.addNode(op, [input], s.span, ctx, s.label ?? name);
  }

  private blockCall(s: Call, ctx: Context, lone: boolean): void {
    const decl = this.library.blocks.get(s.callee)!;
    // The binder refuses recursion; this stands behind it.
    if (this.active.has(decl.name)) {
      throw fail(
        ctx,
        Codes.recursion,
        `block '${decl.name}' calls itself`,
        s.calleeSpan,
        "use 'repeat' to stack blocks instead of recursion",
      );
    }
    if (this.depth >= maxDepth) {
      throw fail(
        ctx,
        Codes.recursion,
        `block calls nest more than ${maxDepth} levels deep at '${s.callee}' (stages, repeats, ifs, residuals and block calls together)`,
        s.calleeSpan,
        "flatten the chain: call the blocks one after another (or 'repeat' one) instead of each calling the next",
      );
    }
    const origin = [
      { message: `in block '${decl.name}' called here`, span: s.span },
      ...ctx.origin,
    ];
    const inner: Context = { ...ctx, origin };
    const what = `block '${decl.name}'`;
    const enums = this.library.enums;
    const scope = bindArgs(s.args, declParams(decl, enums), what, s.span, inner, enums);
    const segment = s.label ?? (lone ? undefined : decl.name);
    const prefix =
      segment === undefined
        ? ctx.prefix
        : [...ctx.prefix, this.graph.instance(ctx.prefix, segment)];
    this.active.add(decl.name);
    try {
      this.body(decl.body, {
        scope: new LocalScope(undefined, scope),
        prefix,
        stage: ctx.stage,
        block: prefix.join(".") || decl.name,
        origin,
        inModel: false,
      });
    } finally {
      this.active.delete(decl.name);
    }
  }
}
