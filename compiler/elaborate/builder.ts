// The graph as the walk builds it: nodes in order, the layer that the next one reads (`current`),
// each shape inferred as its node is added, and the bounds that keep a program from expanding
// forever or beyond any real network.
import { Codes, error, type Span } from "../../grammar/index.js";
import { CompileError } from "../evaluate.js";
import type { Node, Op, Shape } from "../ir.js";
import { inferShape, tooManyElements } from "../shapes.js";
import { fail, type Context } from "./context.js";
import { PathNames } from "./paths.js";

const maxNodes = 200_000;
const maxSteps = 2_000_000;

export class GraphBuilder {
  readonly nodes: Node[] = [];
  /** The layer the next one reads; undefined before the input. */
  current: number | undefined;
  /** Whether the input node exists (from the file's `input` or from the options). */
  hasInput = false;
  private readonly paths = new PathNames();
  private steps = 0;

  constructor(private readonly batch: number) {}

  /** Counts one statement; past the bounds, the program is refused. */
  tick(span: Span): void {
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

  /** The path segment of a block instance; see `PathNames.instance`. */
  instance(prefix: readonly string[], segment: string): string {
    return this.paths.instance(prefix, segment);
  }

  shapeOf(id: number): Shape {
    return this.nodes[id]!.shape;
  }

  requireInput(ctx: Context, span: Span): number {
    if (this.current === undefined)
      throw fail(
        ctx,
        Codes.missingInput,
        "a layer comes before the model's 'input' declaration",
        span,
        "declare 'input C x T x H x W' first",
      );
    return this.current;
  }

  makeInput(dims: readonly number[], span: Span): void {
    this.hasInput = true;
    const shape = [this.batch, ...dims] as unknown as Shape;
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
      path: this.paths.layer([], "input"),
      op: { kind: "input" },
      inputs: [],
      shape,
      span,
      origin: [],
    });
    this.current = 0;
  }

  /** Appends a layer reading `inputs`, its shape inferred; it becomes `current`. */
  addNode(op: Op, inputs: number[], span: Span, ctx: Context, name: string): void {
    const result = inferShape(
      op,
      inputs.map((i) => this.shapeOf(i)),
    );
    if (!("shape" in result)) throw fail(ctx, result.code, result.message, span, result.hint);
    const path = this.paths.layer(ctx.prefix, name);
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
}
