// An ioredis client confined to its environment and checked on every
// connection. A Redis shared by staging and production is how incident 003
// happened; a failover can also put another server behind the same name.
//
// - Every key goes through ioredis's keyPrefix `<env>:`, so the code cannot
//   name another environment's keys by accident. (ioredis does not prefix
//   SCAN/KEYS patterns or the keys they return: use the ACL user as well,
//   see redisStamp.ts.)
// - On every 'ready' (the first connection and each reconnect) the stamp is
//   checked on that connection, and `client()` hands the client out only
//   once the current connection has passed. Commands never wait inside
//   ioredis while it is disconnected (enableOfflineQueue: false) and are not
//   resent after a reconnect (autoResendUnfulfilledCommands: false): both
//   would reach the new server before its check.
// - A refused connection is closed for good: client() rejects with the
//   refusal from then on.
//
// Always take the client from `await fenced.client()` right before using it;
// a reference kept across awaits can outlive the connection it was checked on.

import { once } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import type { FirebreakError } from '../../errors/index.ts';
import type { Fence } from './fence.ts';
import { redisKeyPrefix } from './redisStamp.ts';
import { parseResourceUrl, type RedisResource } from './resourceUrl.ts';
import { isRefusal, refusalError } from './verdict.ts';

export interface FencedRedisOptions {
  readonly url: string;
  readonly fence: Fence;
  /** What the process calls this Redis, for errors ("cache"). */
  readonly name?: string;
  /** Further ioredis options; keyPrefix, enableOfflineQueue, autoResendUnfulfilledCommands and lazyConnect are the fence's. */
  readonly redisOptions?: RedisOptions;
  /** ioredis 'error' events (connection drops); default: ignored, reconnects are ioredis's job. */
  readonly onError?: (err: Error) => void;
  /** A connection whose stamp could not be read (it stays unusable until the next reconnect). */
  readonly onCheckFailed?: (err: unknown) => void;
}

interface Gate {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function gate(): Gate {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a gate nobody waits on must not be an unhandled rejection
  return { promise, resolve, reject };
}

export class FencedRedis {
  readonly redis: Redis;
  readonly resource: RedisResource;
  private readonly fence: Fence;
  private current = gate();
  private refusal: FirebreakError | undefined;

  private constructor(options: FencedRedisOptions) {
    const resource = parseResourceUrl(options.url, {
      name: options.name ?? 'redis',
      errorCode: 'FB_CONFIG_INVALID',
    });
    if (resource.kind !== 'redis')
      throw new Error(`FencedRedis needs a redis:// URL, got ${resource.display}`);
    this.resource = resource;
    this.fence = options.fence;
    this.redis = new Redis(options.url, {
      ...options.redisOptions,
      keyPrefix: redisKeyPrefix(options.fence.env),
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      lazyConnect: true,
    });
    this.redis.on('error', (err: Error) => options.onError?.(err));
    this.redis.on('ready', () => this.checkConnection(options));
    // A new connection will need its own check. 'close' comes (on the next tick) after every connection loss.
    this.redis.on('close', () => {
      this.current.reject(new Error(`${resource.display}: connection closed before its stamp was checked`));
      this.current = gate();
    });
    // No reconnect is coming (retryStrategy gave up, or quit): waiters fail; a later connect() gets a fresh check.
    this.redis.on('end', () => {
      this.current.reject(new Error(`${resource.display}: connection ended`));
      this.current = gate();
    });
  }

  /** Connects and waits for the first connection's check: a refusal rejects (FB_ENV_MISMATCH / FB_ENV_UNSTAMPED). */
  static async open(options: FencedRedisOptions): Promise<FencedRedis> {
    const fenced = new FencedRedis(options);
    await fenced.redis.connect().catch((err: unknown) => {
      fenced.redis.disconnect();
      throw err;
    });
    try {
      await fenced.client();
    } catch (err) {
      fenced.redis.disconnect();
      throw err;
    }
    return fenced;
  }

  private checkConnection(options: FencedRedisOptions): void {
    const mine = this.current;
    this.fence.checkRedisConnection(this.redis, this.resource).then(
      (verdict) => {
        if (isRefusal(verdict)) {
          this.refusal = refusalError(verdict);
          mine.reject(this.refusal);
          this.redis.disconnect(); // for good: no reconnect to a server we refused
        } else {
          mine.resolve();
        }
      },
      (err: unknown) => {
        options.onCheckFailed?.(err);
        mine.reject(err);
      },
    );
  }

  /** The client, once the connection it is on has passed the check. */
  async client(): Promise<Redis> {
    for (;;) {
      this.throwIfRefused();
      if (this.redis.status === 'end') throw new Error(`${this.resource.display}: connection ended`);
      const mine = this.current;
      await mine.promise;
      this.throwIfRefused();
      if (this.redis.status === 'ready' && mine === this.current) return this.redis;
      // Checked, but that connection is already gone ('close' is on its way): wait for the next one's check.
      if (mine === this.current) await once(this.redis, 'close');
    }
  }

  private throwIfRefused(): void {
    if (this.refusal) throw this.refusal;
  }

  async quit(): Promise<void> {
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }
}
