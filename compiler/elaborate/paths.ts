// Path naming: every layer gets a unique dotted path (`res2.0.conv_a`), and two calls of one
// block in one scope become the instances `blk` and `blk_1`.

/** Names taken in one namespace: `base` if free, else `base_k` with the smallest free k. */
class UniqueNames {
  private readonly taken = new Set<string>();
  // The next suffix to try per base name: with thousands of unnamed `relu`s in one scope,
  // probing `relu_1`, `relu_2`, ... from 1 each time would be quadratic. Names are never
  // freed, so every suffix below the counter is taken.
  private readonly nextSuffix = new Map<string, number>();

  take(base: string): string {
    let name = base;
    if (this.taken.has(name)) {
      let k = this.nextSuffix.get(base) ?? 1;
      while (this.taken.has(`${base}_${k}`)) k++;
      this.nextSuffix.set(base, k + 1);
      name = `${base}_${k}`;
    }
    this.taken.add(name);
    return name;
  }
}

export class PathNames {
  private readonly layers = new UniqueNames();
  private readonly instances = new UniqueNames();

  /** A unique path for a layer named `name` under `prefix`. */
  layer(prefix: readonly string[], name: string): string {
    return this.layers.take([...prefix, name].join("."));
  }

  /** The path segment of a block instance named `segment` under `prefix`. */
  instance(prefix: readonly string[], segment: string): string {
    const base = [...prefix, segment].join(".");
    const key = this.instances.take(base);
    return key === base ? segment : `${segment}${key.slice(base.length)}`;
  }
}
