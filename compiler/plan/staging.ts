// Staging textures for kernels that read their input as a texture. A staged tensor keeps its
// texture until its last texture reader, so a tensor read by two kernels (a block's input: the
// first conv and the projection) is copied once. Textures of one size are reused once free.
import { stagingCopies, type ActivationTexture, type StagingCopy } from "../kernels/texture.js";

export interface StagedTexture extends ActivationTexture {
  readonly id: number;
  readonly purpose: "clip" | "staging";
}

export interface Stage {
  readonly tensor: number;
  readonly texture: number;
  /** The copies into the texture, plane by plane inside its border. */
  readonly copies: readonly StagingCopy[];
}

export class StagingPlanner {
  readonly textures: StagedTexture[] = [];
  private readonly held: { id: number; key: string; holds: number; until: number }[] = [];

  /** `lastRead`: the last dispatch that reads each tensor as a texture. */
  constructor(private readonly lastRead: ReadonlyMap<number, number>) {}

  clip(t: ActivationTexture): number {
    this.textures.push({ id: this.textures.length, purpose: "clip", ...t });
    return this.textures.length - 1;
  }

  /** The texture dispatch `at` reads `tensor` (of `shape`) from, and the copy if it needs one. */
  stage(
    tensor: number,
    shape: readonly number[],
    t: ActivationTexture,
    at: number,
  ): { texture: number; stage?: Stage } {
    const held = this.held.find((s) => s.holds === tensor && s.until >= at);
    if (held) return { texture: held.id };
    // The texel format too: a half tensor must not land in a float32 texture of its size.
    const key = `${t.width}x${t.height} ${t.format ?? "f32"}, border ${t.pad.join("x")}, ${t.per} a position`;
    let s = this.held.find((s) => s.key === key && s.until < at);
    if (!s) {
      s = { id: this.textures.length, key, holds: -1, until: -1 };
      this.textures.push({ id: s.id, purpose: "staging", ...t });
      this.held.push(s);
    }
    s.holds = tensor;
    s.until = this.lastRead.get(tensor)!;
    return { texture: s.id, stage: { tensor, texture: s.id, copies: stagingCopies(shape, t) } };
  }
}
