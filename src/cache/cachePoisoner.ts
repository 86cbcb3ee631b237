// A fault injector for tests, benches and drills: the staging writer of the
// incident, which stored entries with the wrong serializer under keys that
// production read. It overwrites a set of keys with MessagePack encodings of
// plausible values (what a serializer refactor gone wrong writes), round
// after round, until stopped, so readers keep finding poison however fast
// they repair it.
//
// The MessagePack encoder is a few lines here rather than a dependency: it
// only ever has to produce bytes that are *not* our envelope.

import type { Redis } from 'ioredis';

/** MessagePack for JSON values (maps, arrays, strings, safe integers, doubles, booleans, null). */
export function msgpack(value: unknown): Buffer {
  if (value === null || value === undefined) return Buffer.from([0xc0]);
  if (value === true) return Buffer.from([0xc3]);
  if (value === false) return Buffer.from([0xc2]);
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value < 128) return Buffer.from([value]);
    const b = Buffer.alloc(9);
    b[0] = 0xcb;
    b.writeDoubleBE(value, 1);
    return b;
  }
  if (typeof value === 'string') {
    const s = Buffer.from(value, 'utf8');
    const head =
      s.length < 32
        ? Buffer.from([0xa0 | s.length])
        : s.length < 256
          ? Buffer.from([0xd9, s.length])
          : sized(0xda, s.length);
    return Buffer.concat([head, s]);
  }
  if (Array.isArray(value)) {
    const head = value.length < 16 ? Buffer.from([0x90 | value.length]) : sized(0xdc, value.length);
    return Buffer.concat([head, ...value.map(msgpack)]);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  const head = entries.length < 16 ? Buffer.from([0x80 | entries.length]) : sized(0xde, entries.length);
  return Buffer.concat([head, ...entries.flatMap(([k, v]) => [msgpack(k), msgpack(v)])]);
}

function sized(tag: number, n: number): Buffer {
  const b = Buffer.alloc(3);
  b[0] = tag;
  b.writeUInt16BE(n, 1);
  return b;
}

export interface CachePoisonerOptions {
  readonly redis: Redis;
  /** Each key and the bytes to write there. */
  readonly entries: ReadonlyArray<readonly [key: string, bytes: Buffer]>;
  /** TTL of the poison (the staging writer's own TTL). */
  readonly ttlMs?: number;
}

export class CachePoisoner {
  /** Rounds completed (every key written once per round). */
  rounds = 0;
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly options: CachePoisonerOptions;

  constructor(options: CachePoisonerOptions) {
    this.options = options;
  }

  /** Writes every key once. */
  async poisonOnce(): Promise<void> {
    const pipeline = this.options.redis.pipeline();
    for (const [key, bytes] of this.options.entries)
      pipeline.set(key, bytes, 'PX', this.options.ttlMs ?? 600_000);
    await pipeline.exec();
    this.rounds += 1;
  }

  /** Keeps rewriting every key until stop(); Redis errors end a round early and the next one tries again. */
  start(): void {
    this.running ??= (async () => {
      while (!this.stopped) {
        await this.poisonOnce().catch(() => {});
        // Let readers in between rounds, as a separate writer would.
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
