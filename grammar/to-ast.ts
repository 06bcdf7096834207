// Concrete syntax tree -> AST. Runs only on trees that parsed without errors, so every child
// the grammar requires is present.
import type { CstElement, CstNode, IToken } from "chevrotain";
import type * as A from "./ast.js";

type Children = Record<string, CstElement[] | undefined>;

function nodes(children: Children, key: string): CstNode[] {
  return (children[key] ?? []) as CstNode[];
}
function node(children: Children, key: string, index = 0): CstNode {
  return nodes(children, key)[index]!;
}
function tokens(children: Children, key: string): IToken[] {
  return (children[key] ?? []) as IToken[];
}
function token(children: Children, key: string, index = 0): IToken | undefined {
  return tokens(children, key)[index];
}

export class AstBuilder {
  constructor(private readonly file: string) {}

  private span(n: CstNode): A.Span {
    const loc = n.location!;
    return { file: this.file, start: loc.startOffset, end: (loc.endOffset ?? loc.startOffset) + 1 };
  }
  private tokenSpan(t: IToken): A.Span {
    return { file: this.file, start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1 };
  }

  program(cst: CstNode): A.Program {
    const c = cst.children;
    return {
      file: this.file,
      imports: nodes(c, "importDecl").map((n) => {
        const raw = token(n.children, "StringLiteral")!.image;
        return { path: JSON.parse(raw) as string, span: this.span(n) };
      }),
      blocks: nodes(c, "blockDecl").map((n) => this.decl(n, "block")),
      models: nodes(c, "modelDecl").map((n) => this.decl(n, "model")),
    };
  }

  private decl(n: CstNode, kind: "block" | "model"): A.BlockDecl {
    const c = n.children;
    const nameToken = token(c, "Identifier")!;
    const paramList = nodes(c, "paramList")[0];
    return {
      kind,
      name: nameToken.image,
      nameSpan: this.tokenSpan(nameToken),
      params: paramList ? nodes(paramList.children, "param").map((p) => this.param(p)) : [],
      body: this.body(node(c, "body")),
      span: this.span(n),
    };
  }

  private param(n: CstNode): A.ParamDecl {
    const c = n.children;
    const typeNode = nodes(c, "typeExpr")[0];
    const exprNode = nodes(c, "expr")[0];
    return {
      name: token(c, "Identifier")!.image,
      type: typeNode ? this.typeExpr(typeNode) : undefined,
      default: exprNode ? this.expr(exprNode) : undefined,
      span: this.span(n),
    };
  }

  private typeExpr(n: CstNode): A.TypeExpr {
    const names = tokens(n.children, "Identifier").map((t) => t.image);
    if (names.length === 1) return { kind: "named", name: names[0]!, span: this.span(n) };
    return { kind: "enum", members: names, span: this.span(n) };
  }

  private body(n: CstNode): A.Statement[] {
    return nodes(n.children, "statement").map((s) => this.statement(s));
  }

  private statement(n: CstNode): A.Statement {
    const [inner] = Object.values(n.children).flat() as CstNode[];
    const c = inner!.children;
    const span = this.span(inner!);
    switch (inner!.name) {
      case "inputStmt":
        return { kind: "input", dims: this.expr(node(c, "expr")), span };
      case "letStmt":
        return {
          kind: "let",
          name: token(c, "Identifier")!.image,
          value: this.expr(node(c, "expr")),
          span,
        };
      case "stageStmt":
        return {
          kind: "stage",
          name: token(c, "Identifier")!.image,
          body: this.body(node(c, "body")),
          span,
        };
      case "repeatStmt":
        return {
          kind: "repeat",
          count: this.expr(node(c, "expr")),
          index: token(c, "Identifier")?.image,
          body: this.body(node(c, "body")),
          span,
        };
      case "ifStmt":
        return this.ifStmt(inner!);
      case "residualStmt": {
        const argList = nodes(c, "argList")[0];
        const bodies = nodes(c, "body");
        return {
          kind: "residual",
          args: argList ? this.args(argList) : [],
          body: this.body(bodies[0]!),
          shortcut: bodies[1] ? this.body(bodies[1]) : undefined,
          span,
        };
      }
      case "callStmt": {
        const callee = token(c, "callee")!;
        const argList = nodes(c, "argList")[0];
        return {
          kind: "call",
          label: token(c, "label")?.image,
          callee: callee.image,
          calleeSpan: this.tokenSpan(callee),
          args: argList ? this.args(argList) : [],
          span,
        };
      }
      default:
        throw new Error(`unexpected statement ${inner!.name}`);
    }
  }

  private ifStmt(n: CstNode): A.IfStmt {
    const c = n.children;
    const bodies = nodes(c, "body");
    const elseIf = nodes(c, "ifStmt")[0];
    return {
      kind: "if",
      condition: this.expr(node(c, "expr")),
      then: this.body(bodies[0]!),
      otherwise: elseIf ? [this.ifStmt(elseIf)] : bodies[1] ? this.body(bodies[1]) : [],
      span: this.span(n),
    };
  }

  private args(n: CstNode): A.Arg[] {
    return nodes(n.children, "arg").map((a) => ({
      name: token(a.children, "name")?.image,
      value: this.expr(node(a.children, "expr")),
      span: this.span(a),
    }));
  }

  expr(n: CstNode): A.Expr {
    const c = n.children;
    const span = this.span(n);
    switch (n.name) {
      case "expr": {
        const items = nodes(c, "ternaryExpr").map((e) => this.expr(e));
        return items.length === 1 ? items[0]! : { kind: "dims", items, span };
      }
      case "ternaryExpr": {
        const condition = this.expr(node(c, "orExpr"));
        const then = nodes(c, "then")[0];
        if (!then) return condition;
        return {
          kind: "ternary",
          condition,
          then: this.expr(then),
          otherwise: this.expr(node(c, "otherwise")),
          span,
        };
      }
      case "orExpr":
        return this.chain(n, "andExpr", () => "or");
      case "andExpr":
        return this.chain(n, "notExpr", () => "and");
      case "notExpr": {
        const operand = nodes(c, "notExpr")[0];
        if (operand) return { kind: "unary", op: "not", operand: this.expr(operand), span };
        return this.expr(node(c, "compareExpr"));
      }
      case "compareExpr":
      case "addExpr":
      case "mulExpr": {
        const sub =
          n.name === "compareExpr" ? "addExpr" : n.name === "addExpr" ? "mulExpr" : "powExpr";
        const ops = Object.entries(c)
          .filter(([key]) => key !== sub)
          .flatMap(([, v]) => v as IToken[])
          .sort((a, b) => a.startOffset - b.startOffset)
          .map((t) => t.image as A.BinaryOp);
        return this.chain(n, sub, (i) => ops[i]!);
      }
      case "powExpr": {
        const base = this.expr(node(c, "unaryExpr"));
        const exponent = nodes(c, "powExpr")[0];
        if (!exponent) return base;
        return { kind: "binary", op: "**", left: base, right: this.expr(exponent), span };
      }
      case "unaryExpr": {
        const operand = nodes(c, "unaryExpr")[0];
        if (operand) return { kind: "unary", op: "-", operand: this.expr(operand), span };
        return this.expr(node(c, "primary"));
      }
      case "primary":
        return this.primary(n);
      default:
        throw new Error(`unexpected expression ${n.name}`);
    }
  }

  // Left-associative chain `a op b op c` over sub-rule `sub`.
  private chain(n: CstNode, sub: string, opAt: (i: number) => A.BinaryOp): A.Expr {
    const operands = nodes(n.children, sub);
    let left = this.expr(operands[0]!);
    for (let i = 1; i < operands.length; i++) {
      const right = this.expr(operands[i]!);
      left = {
        kind: "binary",
        op: opAt(i - 1),
        left,
        right,
        span: { file: this.file, start: left.span.start, end: right.span.end },
      };
    }
    return left;
  }

  private primary(n: CstNode): A.Expr {
    const c = n.children;
    const span = this.span(n);
    const t = (key: string) => token(c, key);
    let tok: IToken | undefined;
    if ((tok = t("DimsLiteral"))) {
      let offset = tok.startOffset;
      const items: A.Expr[] = tok.image.split("x").map((part) => {
        const item: A.Expr = {
          kind: "int",
          value: Number(part),
          span: { file: this.file, start: offset, end: offset + part.length },
        };
        offset += part.length + 1;
        return item;
      });
      return { kind: "dims", items, span };
    }
    if ((tok = t("FloatLiteral"))) return { kind: "float", value: Number(tok.image), span };
    if ((tok = t("IntegerLiteral"))) return { kind: "int", value: Number(tok.image), span };
    if ((tok = t("StringLiteral")))
      return { kind: "string", value: JSON.parse(tok.image) as string, span };
    if (t("True")) return { kind: "bool", value: true, span };
    if (t("False")) return { kind: "bool", value: false, span };
    if ((tok = t("Identifier"))) {
      const argList = nodes(c, "argList")[0];
      if (argList) return { kind: "call", callee: tok.image, args: this.args(argList), span };
      return { kind: "name", name: tok.image, span };
    }
    return this.expr(node(c, "expr"));
  }
}
