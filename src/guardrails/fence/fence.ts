// The environment fence: checks that a resource is stamped for the
// environment this process runs as, adopts (stamps) an unstamped one when
// allowed, and refuses everything else. A library: it reports refusals
// through `onRefused` and the refusals counter, and never exits a process
// itself (serviceFence.ts does that for Firebreak's services).
//
//   const fence = new Fence({ env: 'staging' });
//   await fence.verify(parseResourceUrl(process.env.LEDGER_DATABASE_URL));  // throws FB_ENV_MISMATCH / FB_ENV_UNSTAMPED
//
// For connections that come and go (a pool reconnecting after a failover
// may reach another server behind the same name) see pgConnectionFence.ts
// and fencedRedis.ts: they run the same check on every new connection.

import { Redis } from 'ioredis';
import pg from 'pg';
import type { Registry } from 'prom-client';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { fbError, type FirebreakError } from '../../errors/index.ts';
import { EnvName, stampedBy, type Stamp } from './environment.ts';
import { FenceMetrics } from './fenceMetrics.ts';
import { readKafkaStamps, writeKafkaStamp } from './kafkaStamp.ts';
import { readPgStamps, unfencedClients, writePgStamp } from './postgresStamp.ts';
import { readRedisStamps, writeRedisStamp } from './redisStamp.ts';
import type { FenceResource, SqsResource } from './resourceUrl.ts';
import { defaultSqsClient, readSqsStamps, writeSqsStamp } from './sqsStamp.ts';
import { checkFailed, decide, isRefusal, refusalError, type FenceVerdict } from './verdict.ts';

/** A stand-alone check gives up on an unreachable resource after this long. */
const CONNECT_TIMEOUT_MS = 5_000;

export interface FenceOptions {
  /** The environment this process runs as. */
  readonly env: string;
  /** Stamp unstamped resources instead of refusing them (local development): always, never, or per resource. */
  readonly adopt?: boolean | ((resource: FenceResource) => boolean);
  /** Recorded in the stamps this fence writes. */
  readonly stampedBy?: string;
  /** Also register the refusals counter here (a service's /metrics registry). */
  readonly registry?: Registry;
  /** How to reach an SQS queue (tests inject one); default: the SDK's credential chain. */
  readonly sqsClient?: (resource: SqsResource) => SQSClient;
  readonly onRefused?: (verdict: FenceVerdict, error: FirebreakError) => void;
  readonly onAdopted?: (verdict: FenceVerdict) => void;
}

/** Reads and writes one resource's stamps over one connection. */
export interface StampStore {
  read(): Promise<Stamp[]>;
  write(by: string): Promise<Stamp[]>;
}

export class Fence {
  readonly env: string;
  readonly metrics: FenceMetrics;
  private readonly options: FenceOptions;
  private readonly by: string;

  constructor(options: FenceOptions) {
    const env = EnvName.safeParse(options.env);
    if (!env.success)
      throw fbError(
        'FB_CONFIG_INVALID',
        `environment ${JSON.stringify(options.env)}: ${env.error.issues[0]?.message ?? 'invalid'}`,
      );
    this.env = env.data;
    this.options = options;
    this.by = options.stampedBy ?? stampedBy('firebreak');
    this.metrics = new FenceMetrics(options.registry);
  }

  adopts(resource: FenceResource): boolean {
    const { adopt = false } = this.options;
    return typeof adopt === 'function' ? adopt(resource) : adopt;
  }

  /**
   * Checks one resource: ok, adopted, or a refusal (counted and reported to
   * onRefused). Throws FB_ENV_CHECK_FAILED only when the stamp cannot be
   * read or written at all (unreachable, bad credentials).
   */
  async check(resource: FenceResource): Promise<FenceVerdict> {
    return this.withStore(resource, (store) => this.judge(resource, store));
  }

  /** check(), and a refusal becomes its error (FB_ENV_MISMATCH or FB_ENV_UNSTAMPED). */
  async verify(resource: FenceResource): Promise<FenceVerdict> {
    const verdict = await this.check(resource);
    if (isRefusal(verdict)) throw refusalError(verdict);
    return verdict;
  }

  /**
   * Stamps a resource for this fence's environment (provisioning: `firebreak
   * env stamp`). Already ours: 'ok', nothing written. Another environment's:
   * 'mismatch', nothing written; the caller refuses.
   */
  async stamp(resource: FenceResource): Promise<FenceVerdict> {
    return this.withStore(resource, async (store) => {
      const before = decide(
        this.env,
        await this.step(resource, 'read its environment stamp', () => store.read()),
      );
      if (before.outcome !== 'unstamped') return this.conclude(resource, before.outcome, before.stamp);
      const after = decide(
        this.env,
        await this.step(resource, 'write its environment stamp', () => store.write(this.by)),
      );
      return this.conclude(resource, after.outcome === 'ok' ? 'adopted' : after.outcome, after.stamp);
    });
  }

  /** The check over an existing Postgres connection (pgConnectionFence.ts, per new connection). */
  async checkPgConnection(client: pg.ClientBase, resource: FenceResource): Promise<FenceVerdict> {
    return this.judge(resource, pgStore(client, this.env));
  }

  /** The check over an existing ioredis connection (fencedRedis.ts, on every 'ready'). */
  async checkRedisConnection(client: Redis, resource: FenceResource): Promise<FenceVerdict> {
    return this.judge(resource, redisStore(client, this.env));
  }

  private async judge(resource: FenceResource, store: StampStore): Promise<FenceVerdict> {
    const found = decide(
      this.env,
      await this.step(resource, 'read its environment stamp', () => store.read()),
    );
    if (found.outcome !== 'unstamped' || !this.adopts(resource))
      return this.conclude(resource, found.outcome, found.stamp);
    const after = decide(
      this.env,
      await this.step(resource, 'adopt it (write its stamp)', () => store.write(this.by)),
    );
    return this.conclude(resource, after.outcome === 'ok' ? 'adopted' : after.outcome, after.stamp);
  }

  private conclude(
    resource: FenceResource,
    outcome: FenceVerdict['outcome'],
    stamp: Stamp | null,
  ): FenceVerdict {
    const verdict: FenceVerdict = { resource, expected: this.env, outcome, stamp };
    if (isRefusal(verdict)) {
      this.metrics.refused(resource.kind);
      this.options.onRefused?.(verdict, refusalError(verdict));
    } else if (outcome === 'adopted') {
      this.options.onAdopted?.(verdict);
    }
    return verdict;
  }

  private async step<T>(resource: FenceResource, doing: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw checkFailed(resource, doing, err);
    }
  }

  /** Opens a connection of its own to the resource, runs fn, closes it. */
  private async withStore<T>(resource: FenceResource, fn: (store: StampStore) => Promise<T>): Promise<T> {
    switch (resource.kind) {
      case 'postgres': {
        const client = new pg.Client({
          connectionString: resource.url,
          connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        });
        unfencedClients.add(client); // this is the check itself: not checked again by pgConnectionFence
        client.on('error', () => {});
        await this.step(resource, 'connect', () => client.connect());
        try {
          return await fn(pgStore(client, this.env));
        } finally {
          await client.end().catch(() => {});
        }
      }
      case 'redis': {
        const client = new Redis(resource.url, {
          lazyConnect: true,
          connectTimeout: CONNECT_TIMEOUT_MS,
          retryStrategy: () => null,
          maxRetriesPerRequest: 0,
          enableOfflineQueue: false,
        });
        client.on('error', () => {});
        try {
          await this.step(resource, 'connect', () => client.connect());
          return await fn(redisStore(client, this.env));
        } finally {
          client.disconnect();
        }
      }
      case 'kafka': {
        const o = { brokers: resource.brokers, connectionTimeoutMs: CONNECT_TIMEOUT_MS };
        return fn({ read: () => readKafkaStamps(o), write: (by) => writeKafkaStamp(o, this.env, by) });
      }
      case 'sqs': {
        const client = (this.options.sqsClient ?? defaultSqsClient)(resource);
        return fn({
          read: () => readSqsStamps(client, resource),
          write: (by) => writeSqsStamp(client, resource, this.env, by),
        });
      }
    }
  }
}

function pgStore(client: pg.ClientBase, env: string): StampStore {
  return { read: () => readPgStamps(client), write: (by) => writePgStamp(client, env, by) };
}

function redisStore(client: Redis, env: string): StampStore {
  return { read: () => readRedisStamps(client, env), write: (by) => writeRedisStamp(client, env, by) };
}
