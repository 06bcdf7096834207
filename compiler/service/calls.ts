// The call a cursor is in, read from the tokens before it (so it works on a line still being
// typed): the callee, which argument, and the signature of what is called.
import type { IToken } from "chevrotain";
import { builtinFunctions } from "../layers.js";
import {
  blockSignature,
  layerSignature,
  residualSignature,
  type SignatureInfo,
} from "./describe.js";
import { textOf, type Analysis } from "./project.js";

export interface CallContext {
  readonly callee: string;
  /** The offset of the call's '('. */
  readonly open: number;
  /** The argument the cursor is in, counted from 0. */
  readonly index: number;
  /** Its name, when it is written `name = ...`. */
  readonly named?: string;
  /** Names of the arguments already given by name. */
  readonly given: readonly string[];
  /** How many arguments before the cursor's were given by position. */
  readonly positional: number;
  /** Whether the cursor is where an argument's name could go (right after '(' or ','). */
  readonly atArgStart: boolean;
}

/** The tokens that end at or before `offset`, without a word the cursor is at the end of. */
export function tokensBefore(tokens: readonly IToken[], offset: number): IToken[] {
  let n = 0;
  while (n < tokens.length && tokens[n]!.startOffset + tokens[n]!.image.length <= offset) n++;
  const last = tokens[n - 1];
  if (last && last.startOffset + last.image.length === offset && /^\w/.test(last.image)) n--;
  return tokens.slice(0, n);
}

export function callContext(before: readonly IToken[]): CallContext | undefined {
  let depth = 0;
  let i = before.length - 1;
  for (; i >= 0; i--) {
    const k = before[i]!.tokenType.name;
    if (k === "RParen") depth++;
    else if (k === "LParen") {
      if (depth === 0) break;
      depth--;
    } else if ((k === "LBrace" || k === "RBrace") && depth === 0) return undefined;
  }
  if (i <= 0) return undefined;
  const calleeToken = before[i - 1]!;
  const ck = calleeToken.tokenType.name;
  if (ck !== "Identifier" && ck !== "Residual") return undefined;
  let index = 0;
  let argStart = i + 1;
  const given: string[] = [];
  let positional = 0;
  depth = 0;
  for (let j = i + 1; j < before.length; j++) {
    const k = before[j]!.tokenType.name;
    if (k === "LParen") depth++;
    else if (k === "RParen") depth--;
    else if (k === "Comma" && depth === 0) {
      if (before[argStart + 1]?.tokenType.name !== "Assign") positional++;
      index++;
      argStart = j + 1;
    } else if (k === "Assign" && depth === 0 && j === argStart + 1)
      given.push(before[j - 1]!.image);
  }
  const first = before[argStart];
  const named =
    first && before[argStart + 1]?.tokenType.name === "Assign" ? first.image : undefined;
  return {
    callee: calleeToken.image,
    open: before[i]!.startOffset,
    index,
    named,
    given,
    positional,
    atArgStart: argStart === before.length,
  };
}

/** The signature of what `callee` names here: a layer, a block in scope, or residual. */
export function calleeSignature(a: Analysis, callee: string): SignatureInfo | undefined {
  if (callee === "residual") return residualSignature();
  const layer = layerSignature(callee);
  if (layer) return layer;
  const block = a.blocks.get(callee);
  return block && blockSignature(block, textOf(a, block.span.file));
}

/** Whether `callee` is a function of expressions (`min`, `max`) rather than a layer or block. */
export const isFunction = (callee: string) => callee in builtinFunctions;

export interface SignatureHelp {
  readonly signature: SignatureInfo;
  /** The parameter the cursor's argument binds to, if known. */
  readonly active?: number;
}

/** The signature of the layer or block call the cursor is in, with its active parameter. */
export function signatureHelp(a: Analysis, offset: number): SignatureHelp | undefined {
  const call = callContext(tokensBefore(a.syntax.tokens, offset));
  if (!call || isFunction(call.callee)) return undefined;
  const signature = calleeSignature(a, call.callee);
  if (!signature) return undefined;
  const active = call.named
    ? signature.params.findIndex((p) => p.name === call.named)
    : call.given.length === 0
      ? call.index
      : -1;
  return {
    signature,
    active: active >= 0 && active < signature.params.length ? active : undefined,
  };
}
