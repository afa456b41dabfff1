// Shared by the fuzz tests: a seeded generator (a failure names its index and reproduces) and a
// bounded-concurrency loop.

/** mulberry32: small, seeded, good enough to spread the cases. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FUZZ_SEED shifts every generator's seed, to explore other cases than CI's (default 0: CI's). */
const SEED_SHIFT = Number(process.env.FUZZ_SEED ?? 0);

/** The draws a generator makes from one seed: a number in [0, 1), an integer below n, an item, a yes with probability p. */
export function draws(seed: number) {
  const random = rng(seed + SEED_SHIFT);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chance = (p: number) => random() < p;
  return { random, int, pick, chance };
}

/** Runs `run(0 … count-1)` with at most `concurrency` at once. */
export async function inParallel(count: number, concurrency: number, run: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await run(next++);
  }));
}
