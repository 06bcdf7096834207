// The binder: collects blocks and models from all loaded files and checks, without running
// anything, that every name, layer, block, argument name and type name in their bodies is known
// and that no block calls itself. Errors here hold even for blocks no model uses yet.
import {
  Codes,
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

export function buildLibrary(programs: readonly Program[]): {
  library: Library;
  diagnostics: Diagnostic[];
} {
  const diagnostics: Diagnostic[] = [];
  const blocks = new Map<string, BlockDecl>();
  const enums = new Map<string, string[]>();
  for (const m of builtinEnumMembers) enums.set(m, ["auto", "identity", "project"]);

  for (const program of programs) {
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
  for (const program of programs) {
    for (const decl of [...program.blocks, ...program.models])
      diagnostics.push(...checkDecl(decl, library));
  }
  diagnostics.push(...findRecursion(library));
  return { library, diagnostics };
}

function checkDecl(decl: BlockDecl, library: Library): Diagnostic[] {
  const out: Diagnostic[] = [];
  const scope = new Set<string>();
  for (const p of decl.params) {
    if (scope.has(p.name))
      out.push(error(Codes.duplicateName, `parameter '${p.name}' is declared twice`, p.span));
    if (p.type?.kind === "named" && !(typeNames as readonly string[]).includes(p.type.name)) {
      out.push(
        error(Codes.unknownType, `unknown type '${p.type.name}'`, p.type.span, {
          hint:
            didYouMean(p.type.name, typeNames) ??
            `types are ${typeNames.join(", ")}, or an enumeration such as 'ir | ip'`,
        }),
      );
    }
    if (p.default) checkExpr(p.default, scope, library, out);
    scope.add(p.name);
  }
  checkBody(decl.body, scope, library, out, decl.kind === "model");
  return out;
}

function checkBody(
  body: readonly Statement[],
  outer: ReadonlySet<string>,
  library: Library,
  out: Diagnostic[],
  inModel: boolean,
): void {
  const scope = new Set(outer);
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
        checkBody(s.body, s.index ? new Set([...scope, s.index]) : scope, library, out, inModel);
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
          const known = [
            ...Object.keys(layers),
            ...Object.keys(layerAliases),
            ...library.blocks.keys(),
          ];
          out.push(
            error(Codes.unknownLayer, `unknown layer or block '${s.callee}'`, s.calleeSpan, {
              hint:
                didYouMean(s.callee, known) ??
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
  scope: ReadonlySet<string>,
  library: Library,
  out: Diagnostic[],
): void {
  for (const a of args) {
    if (a.name !== undefined && !params.includes(a.name)) {
      out.push(
        error(Codes.unknownParam, `${what} has no parameter '${a.name}'`, a.span, {
          hint:
            didYouMean(a.name, params) ??
            (params.length ? `its parameters are ${params.join(", ")}` : "it takes no arguments"),
        }),
      );
    }
    checkExpr(a.value, scope, library, out);
  }
}

function checkExpr(e: Expr, scope: ReadonlySet<string>, library: Library, out: Diagnostic[]): void {
  switch (e.kind) {
    case "name":
      if (!scope.has(e.name) && !library.enums.has(e.name)) {
        out.push(
          error(Codes.unknownName, `unknown name '${e.name}'`, e.span, {
            hint:
              didYouMean(e.name, [...scope, ...library.enums.keys()]) ??
              "names are parameters, 'let' bindings, repeat indices or enumeration members",
          }),
        );
      }
      break;
    case "call":
      if (!builtinFunctions[e.callee]) {
        out.push(
          error(Codes.unknownName, `unknown function '${e.callee}'`, e.span, {
            hint:
              didYouMean(e.callee, Object.keys(builtinFunctions)) ??
              `functions are ${Object.keys(builtinFunctions).join(", ")}`,
          }),
        );
      }
      for (const a of e.args) checkExpr(a.value, scope, library, out);
      break;
    case "dims":
      for (const item of e.items) checkExpr(item, scope, library, out);
      break;
    case "binary":
      checkExpr(e.left, scope, library, out);
      checkExpr(e.right, scope, library, out);
      break;
    case "unary":
      checkExpr(e.operand, scope, library, out);
      break;
    case "ternary":
      checkExpr(e.condition, scope, library, out);
      checkExpr(e.then, scope, library, out);
      checkExpr(e.otherwise, scope, library, out);
      break;
    default:
      break;
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
  const visit = (name: string, chain: string[]): void => {
    state.set(name, "visiting");
    for (const callee of calls(library.blocks.get(name)!.body, [])) {
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
      } else if (s === undefined) visit(callee.name, [...chain, callee.name]);
    }
    state.set(name, "done");
  };
  for (const name of library.blocks.keys()) if (!state.has(name)) visit(name, [name]);
  return out;
}
