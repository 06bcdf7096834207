// The binder: collects blocks and models from all loaded files and checks, without running
// anything, that every name, layer, block, argument name and type name in their bodies is known
// and that no block calls itself, and that no two blocks, nor two models of one file, share a
// name. Errors here hold even for blocks no model uses yet.
import {
  Codes,
  DiagnosticSink,
  didYouMean,
  error,
  type Arg,
  type BlockDecl,
  type Diagnostic,
  type Expr,
  type Program,
  type Statement,
} from "../grammar/index.js";
import {
  builtinEnumMembers,
  builtinFunctions,
  layers,
  layerAliases,
  lookupLayer,
  residualParams,
} from "./layers.js";
import { typeNames } from "./values.js";

export interface Library {
  readonly blocks: ReadonlyMap<string, BlockDecl>;
  /** Every enumeration member declared anywhere, with the member lists that contain it. */
  readonly enums: ReadonlyMap<string, readonly string[]>;
}

// "Did you mean" compares a name with every candidate: only the first few diagnostics get a
// suggestion, so thousands of unknown names among thousands of names stay linear (only 50
// diagnostics per file are shown anyway).
const maxSuggestions = 50;
let suggestions = 0;
function suggest(name: string, candidates: () => Iterable<string>): string | undefined {
  return ++suggestions > maxSuggestions ? undefined : didYouMean(name, candidates());
}

/** Names visible in a body: its own over the enclosing bodies', linked rather than copied. */
class Names {
  private readonly own = new Set<string>();
  constructor(private readonly outer?: Names) {}
  has(name: string): boolean {
    return this.own.has(name) || (this.outer?.has(name) ?? false);
  }
  add(name: string): void {
    this.own.add(name);
  }
  *[Symbol.iterator](): Generator<string> {
    yield* this.own;
    if (this.outer) yield* this.outer;
  }
}

export function buildLibrary(programs: readonly Program[]): {
  library: Library;
  diagnostics: Diagnostic[];
} {
  suggestions = 0;
  // Bounded per file: a file of millions of unknown names builds only the first thousand.
  const diagnostics = new DiagnosticSink();
  const blocks = new Map<string, BlockDecl>();
  const enums = new Map<string, string[]>();
  for (const m of builtinEnumMembers) enums.set(m, ["auto", "identity", "project"]);

  for (const program of programs) {
    // Models are picked by name (`--model`) among those of their own file.
    const models = new Map<string, BlockDecl>();
    for (const decl of program.models) {
      const previous = models.get(decl.name);
      if (!previous) {
        models.set(decl.name, decl);
        continue;
      }
      diagnostics.push(
        error(Codes.duplicateName, `model '${decl.name}' is defined twice`, decl.nameSpan, {
          notes: [{ message: "first defined here", span: previous.nameSpan }],
          hint: "rename one of them",
        }),
      );
    }
    for (const decl of [...program.blocks, ...program.models]) {
      for (const p of decl.params) {
        if (p.type?.kind === "enum")
          for (const m of p.type.members) if (!enums.has(m)) enums.set(m, [...p.type.members]);
      }
      if (decl.kind !== "block") continue;
      const previous = blocks.get(decl.name);
      if (previous) {
        if (previous.span.file === decl.span.file && previous.span.start === decl.span.start)
          continue;
        diagnostics.push(
          error(Codes.duplicateName, `block '${decl.name}' is defined twice`, decl.nameSpan, {
            notes: [{ message: "first defined here", span: previous.nameSpan }],
            hint: "rename one of them",
          }),
        );
        continue;
      }
      if (lookupLayer(decl.name)) {
        diagnostics.push(
          error(
            Codes.duplicateName,
            `block '${decl.name}' has the name of a built-in layer`,
            decl.nameSpan,
            { hint: "pick another name" },
          ),
        );
        continue;
      }
      blocks.set(decl.name, decl);
    }
  }
  const library: Library = { blocks, enums };
  // Loops, not push(...): a spread of a huge list of diagnostics overflows the stack.
  for (const program of programs) {
    for (const decl of [...program.blocks, ...program.models])
      checkDecl(decl, library, diagnostics);
  }
  for (const d of findRecursion(library)) diagnostics.push(d);
  return { library, diagnostics: diagnostics.done() };
}

function checkDecl(decl: BlockDecl, library: Library, out: DiagnosticSink): void {
  const scope = new Names();
  for (const p of decl.params) {
    if (scope.has(p.name))
      out.push(error(Codes.duplicateName, `parameter '${p.name}' is declared twice`, p.span));
    if (p.type?.kind === "named" && !(typeNames as readonly string[]).includes(p.type.name)) {
      out.push(
        error(Codes.unknownType, `unknown type '${p.type.name}'`, p.type.span, {
          hint:
            suggest(p.type.name, () => typeNames) ??
            `types are ${typeNames.join(", ")}, or an enumeration such as 'ir | ip'`,
        }),
      );
    }
    if (p.default) checkExpr(p.default, scope, library, out);
    scope.add(p.name);
  }
  checkBody(decl.body, scope, library, out, decl.kind === "model");
}

function withName(outer: Names, name: string): Names {
  const names = new Names(outer);
  names.add(name);
  return names;
}

function checkBody(
  body: readonly Statement[],
  outer: Names,
  library: Library,
  out: DiagnosticSink,
  inModel: boolean,
): void {
  const scope = new Names(outer);
  for (const s of body) {
    switch (s.kind) {
      case "input":
        if (!inModel)
          out.push(
            error(Codes.badValue, "'input' belongs in a model, not in a block", s.span, {
              hint: "declare the input once, in the model",
            }),
          );
        checkExpr(s.dims, scope, library, out);
        break;
      case "let":
        checkExpr(s.value, scope, library, out);
        scope.add(s.name);
        break;
      case "stage":
        checkBody(s.body, scope, library, out, inModel);
        break;
      case "repeat":
        checkExpr(s.count, scope, library, out);
        checkBody(s.body, s.index ? withName(scope, s.index) : scope, library, out, inModel);
        break;
      case "if":
        checkExpr(s.condition, scope, library, out);
        checkBody(s.then, scope, library, out, inModel);
        checkBody(s.otherwise, scope, library, out, inModel);
        break;
      case "residual":
        checkArgs(
          s.args,
          residualParams.map((p) => p.name),
          "residual",
          scope,
          library,
          out,
        );
        checkBody(s.body, scope, library, out, inModel);
        if (s.shortcut) checkBody(s.shortcut, scope, library, out, inModel);
        break;
      case "call": {
        const layer = lookupLayer(s.callee);
        const block = library.blocks.get(s.callee);
        if (!layer && !block) {
          // Past the file's bound: count it without building a message and suggestion.
          if (out.full(s.calleeSpan.file)) {
            out.count(s.calleeSpan.file);
            for (const a of s.args) checkExpr(a.value, scope, library, out);
            break;
          }
          const known = () => [
            ...Object.keys(layers),
            ...Object.keys(layerAliases),
            ...library.blocks.keys(),
          ];
          out.push(
            error(Codes.unknownLayer, `unknown layer or block '${s.callee}'`, s.calleeSpan, {
              hint:
                suggest(s.callee, known) ??
                `layers are ${Object.keys(layers).join(", ")}; blocks come from this file or its imports`,
            }),
          );
          for (const a of s.args) checkExpr(a.value, scope, library, out);
          break;
        }
        const params = layer ? layer.params.map((p) => p.name) : block!.params.map((p) => p.name);
        checkArgs(
          s.args,
          params,
          layer ? `layer '${s.callee}'` : `block '${s.callee}'`,
          scope,
          library,
          out,
        );
        break;
      }
    }
  }
}

function checkArgs(
  args: readonly Arg[],
  params: readonly string[],
  what: string,
  scope: Names,
  library: Library,
  out: DiagnosticSink,
): void {
  for (const a of args) {
    if (a.name !== undefined && !params.includes(a.name)) {
      out.push(
        error(Codes.unknownParam, `${what} has no parameter '${a.name}'`, a.span, {
          hint:
            suggest(a.name, () => params) ??
            (params.length ? `its parameters are ${params.join(", ")}` : "it takes no arguments"),
        }),
      );
    }
    checkExpr(a.value, scope, library, out);
  }
}

// Iterative, with an explicit stack: a chain `1 + 1 + ... + 1` is a left-nested tree as deep
// as it is long. Subexpressions are visited left to right, so diagnostics come in source order.
function checkExpr(e: Expr, scope: Names, library: Library, out: DiagnosticSink): void {
  const todo: Expr[] = [e];
  while (todo.length > 0) {
    const x = todo.pop()!;
    switch (x.kind) {
      case "name":
        if (!scope.has(x.name) && !library.enums.has(x.name)) {
          if (out.full(x.span.file)) out.count(x.span.file);
          else
            out.push(
              error(Codes.unknownName, `unknown name '${x.name}'`, x.span, {
                hint:
                  suggest(x.name, () => [...scope, ...library.enums.keys()]) ??
                  "names are parameters, 'let' bindings, repeat indices or enumeration members",
              }),
            );
        }
        break;
      case "call":
        if (!builtinFunctions[x.callee]) {
          out.push(
            error(Codes.unknownName, `unknown function '${x.callee}'`, x.span, {
              hint:
                suggest(x.callee, () => Object.keys(builtinFunctions)) ??
                `functions are ${Object.keys(builtinFunctions).join(", ")}`,
            }),
          );
        }
        for (let i = x.args.length - 1; i >= 0; i--) todo.push(x.args[i]!.value);
        break;
      case "dims":
        for (let i = x.items.length - 1; i >= 0; i--) todo.push(x.items[i]!);
        break;
      case "binary":
        todo.push(x.right, x.left);
        break;
      case "unary":
        todo.push(x.operand);
        break;
      case "ternary":
        todo.push(x.otherwise, x.then, x.condition);
        break;
      default:
        break;
    }
  }
}

// Blocks that call themselves, directly or through others, would never finish expanding.
function findRecursion(library: Library): Diagnostic[] {
  const calls = (body: readonly Statement[], acc: { name: string; span: Expr["span"] }[]) => {
    for (const s of body) {
      if (s.kind === "call" && library.blocks.has(s.callee))
        acc.push({ name: s.callee, span: s.calleeSpan });
      else if (s.kind === "stage" || s.kind === "repeat") calls(s.body, acc);
      else if (s.kind === "if") {
        calls(s.then, acc);
        calls(s.otherwise, acc);
      } else if (s.kind === "residual") {
        calls(s.body, acc);
        if (s.shortcut) calls(s.shortcut, acc);
      }
    }
    return acc;
  };
  const out: Diagnostic[] = [];
  const state = new Map<string, "visiting" | "done">();
  // Depth-first with an explicit stack (a chain of thousands of blocks is only long, not
  // wrong); `chain` holds the blocks being visited, outermost first.
  for (const root of library.blocks.keys()) {
    if (state.has(root)) continue;
    const chain: string[] = [root];
    const stack = [{ callees: calls(library.blocks.get(root)!.body, []), next: 0 }];
    state.set(root, "visiting");
    while (stack.length > 0) {
      const frame = stack.at(-1)!;
      const callee = frame.callees[frame.next++];
      if (!callee) {
        state.set(chain.pop()!, "done");
        stack.pop();
        continue;
      }
      const s = state.get(callee.name);
      if (s === "visiting") {
        const cycle = [...chain.slice(chain.indexOf(callee.name)), callee.name];
        out.push(
          error(
            Codes.recursion,
            `block '${callee.name}' calls itself (${cycle.join(" -> ")})`,
            callee.span,
            {
              hint: "use 'repeat' to stack blocks instead of recursion",
            },
          ),
        );
      } else if (s === undefined) {
        state.set(callee.name, "visiting");
        chain.push(callee.name);
        stack.push({ callees: calls(library.blocks.get(callee.name)!.body, []), next: 0 });
      }
    }
  }
  return out;
}
