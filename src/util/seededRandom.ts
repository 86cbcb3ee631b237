// Deterministic randomness for drills: the same seed replays the same
// traffic and fault timeline. Backed by pure-rand's xoroshiro128+.

import { xoroshiro128plus, unsafeUniformIntDistribution, type RandomGenerator } from 'pure-rand';
import { createHash } from 'node:crypto';

export class SeededRandom {
  private readonly rng: RandomGenerator;
  private readonly seed: string;

  constructor(seed: string | number) {
    this.seed = String(seed);
    // Hash the seed so "1" and "2" start far apart and strings work too.
    const digest = createHash('sha256').update(String(seed)).digest();
    this.rng = xoroshiro128plus(digest.readInt32LE(0));
  }

  /**
   * An independent generator for one consumer (a scenario, say), derived from
   * the seed and a label only: it does not depend on how much of this one was
   * used, so adding a consumer never shifts another's draws.
   */
  fork(label: string): SeededRandom {
    return new SeededRandom(`${this.seed}/${label}`);
  }

  /** Integer in [min, max], inclusive. */
  int(min: number, max: number): number {
    return unsafeUniformIntDistribution(min, max, this.rng);
  }

  /** True with probability p (resolution 1e-6). */
  chance(p: number): boolean {
    return this.int(0, 999_999) < Math.round(p * 1_000_000);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('cannot pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  /** A UUID (v4 layout) drawn from this generator. */
  uuid(): string {
    const hex = Array.from({ length: 32 }, () => this.int(0, 15).toString(16));
    hex[12] = '4';
    hex[16] = ((this.int(0, 15) & 0x3) | 0x8).toString(16);
    const s = hex.join('');
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  }

  /** A token for keys and secrets (not for production secrets: it is reproducible by design). */
  token(length = 32): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    return Array.from({ length }, () => alphabet[this.int(0, alphabet.length - 1)]).join('');
  }
}
