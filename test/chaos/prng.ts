/** mulberry32: a tiny seeded PRNG, so a chaos run is the same run every time for a seed. */
export type Rng = () => number;

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An independent stream derived from `rng` (so adding draws in one place does not shift another). */
export function fork(rng: Rng): Rng {
  return mulberry32(Math.floor(rng() * 2 ** 32));
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)];
}

/** One of `choices` by weight; undefined when the weights sum below 1 and the draw falls past them. */
export function weighted<T>(rng: Rng, choices: ReadonlyArray<{ weight: number; value: T }>): T | undefined {
  let draw = rng();
  for (const choice of choices) {
    if (draw < choice.weight) return choice.value;
    draw -= choice.weight;
  }
  return undefined;
}
