// Scenario cache-poison: the incident where a staging writer stored cache
// entries with the wrong serializer and production, unable to read them,
// flooded its database. Against the live stack (API started with REDIS_URL):
// warm every creator's price list, then for POISON_MS keep rewriting every
// entry in MessagePack while READ_CLIENTS clients read price lists over HTTP
// as fast as they are answered, then stop and watch the cache heal.
//
// Judged from outside the API: the HTTP statuses the clients saw (no 500s,
// no dropped connections, 200s throughout, every 503 with Retry-After) and
// the API's own /metrics (fallback queries during the fault at or under the
// guard's cap of burst + rate x seconds, which the API exports too; reads
// that found poison). The cache-guard tests show the metric equals what
// Postgres counts (test/cache/poisonUnderLoad.test.ts).

import { Redis } from 'ioredis';
import { CachePoisoner, msgpack } from '../../cache/index.ts';
import { runLookupLoad } from '../../cache/catalog/lookupLoad.ts';
import { waitFor } from '../../util/waitFor.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.ts';

/** How long the poison lasts: the fault's duration, not a synchronisation wait. */
const POISON_MS = 10_000;
const READ_CLIENTS = 32;
/** After the writer stops, the cache must serve hits again within this long. */
const HEAL_SLO_MS = 15_000;
const KEY_PATTERN = '*:api:creator-plans:v1:*';

/** Sums the samples of one metric whose labels include `labels`, from Prometheus text. */
export function sampleSum(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}

/** The writer while the fault lasts, so heal() can stop it whatever happened. */
let writer: CachePoisoner | undefined;

async function metricsText(adminUrl: string): Promise<string> {
  const res = await fetch(`${adminUrl}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  return res.text();
}

export const cachePoisonScenario: Scenario = {
  name: 'cache-poison',
  description: `every cached price list rewritten with the wrong serializer for ${POISON_MS / 1000}s under read load; the database fallback stays capped, no 500s`,
  needs: { redis: true },
  async heal(): Promise<void> {
    await writer?.stop();
    writer = undefined;
  },
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const { stack } = ctx;
    if (!stack.redisUrl) throw new Error('cache-poison needs the stack started with Redis (needs.redis)');
    const creators = stack.options.drillCatalog.catalog.creators;
    const paths = creators.map((c) => `/v1/creators/${c.id}/plans`);
    const probe = await fetch(`${stack.apiUrl}${paths[0]!}`);
    if (probe.status !== 200)
      throw new Error(
        `GET ${paths[0]!} answered ${probe.status} before the fault: the API is not serving cached lookups (is REDIS_URL passed to it?)`,
      );

    const redis = new Redis(stack.redisUrl).on('error', () => {});
    const poisonRedis = new Redis(stack.redisUrl).on('error', () => {});
    try {
      // Warm: every price list read, so every entry exists under the API's keys (reads the
      // fallback's cap refused are simply sent again on the next round).
      const warmRng = ctx.rng.fork('warm');
      const keys = await waitFor(
        'the price lists to be cached',
        async () => {
          await runLookupLoad({
            baseUrl: stack.apiUrl,
            paths,
            concurrency: 4,
            requests: paths.length,
            rng: warmRng,
          });
          const found: string[] = [];
          let cursor = '0';
          do {
            const [next, batch] = await redis.scan(cursor, 'MATCH', KEY_PATTERN, 'COUNT', 1000);
            cursor = next;
            found.push(...batch);
          } while (cursor !== '0');
          return found.length >= creators.length ? found : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      const before = await metricsText(stack.apiAdminUrl);
      const rate = sampleSum(before, 'firebreak_cache_fallback_limit', {
        guard: 'catalog',
        limit: 'rate_per_sec',
      });
      const burst = sampleSum(before, 'firebreak_cache_fallback_limit', { guard: 'catalog', limit: 'burst' });
      if (!(rate > 0)) throw new Error('the API exports no fallback limits: is it running the cache guard?');

      ctx.progress(
        `cache-poison: rewriting ${keys.length} price lists with MessagePack for ${POISON_MS / 1000}s under ${READ_CLIENTS} readers`,
      );
      const poisoner = new CachePoisoner({
        redis: poisonRedis,
        entries: keys.map((key) => [key, msgpack({ creatorId: key.split(':').at(-1), plans: [] })]),
      });
      writer = poisoner;
      const started = performance.now();
      await poisoner.poisonOnce();
      poisoner.start();
      ctx.mark('inject', `every price list rewritten with MessagePack, ${READ_CLIENTS} readers`);
      let load;
      try {
        load = await runLookupLoad({
          baseUrl: stack.apiUrl,
          paths,
          concurrency: READ_CLIENTS,
          durationMs: POISON_MS,
          rng: ctx.rng.fork('load'),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
      } finally {
        await poisoner.stop();
        writer = undefined;
      }
      const healedAt = ctx.mark('heal', 'poisoning writer stopped');
      const after = await metricsText(stack.apiAdminUrl);
      const seconds = (performance.now() - started) / 1000;
      const delta = (name: string, labels: Record<string, string> = {}) =>
        sampleSum(after, name, labels) - sampleSum(before, name, labels);
      const fallbackQueries = delta('firebreak_cache_fallback_queries_total', { guard: 'catalog' });
      const cap = Math.floor(burst + rate * seconds);
      const poisonMisses = delta('firebreak_cache_misses_total', {
        cache: 'creator-plans',
        reason: 'foreign_format',
      });
      const refused = delta('firebreak_cache_fallback_rejected_total', { guard: 'catalog' });
      const coalesced = delta('firebreak_cache_fallback_coalesced_total', { guard: 'catalog' });

      // Healing: with the writer gone, reads are served from Redis again.
      const hitsBefore = sampleSum(after, 'firebreak_cache_hits_total', { cache: 'creator-plans' });
      const healed = await waitFor(
        'price lists to be served from the cache again',
        async () => {
          const res = await fetch(`${stack.apiUrl}${paths[0]!}`);
          await res.arrayBuffer();
          const hits = sampleSum(await metricsText(stack.apiAdminUrl), 'firebreak_cache_hits_total', {
            cache: 'creator-plans',
          });
          return res.status === 200 && hits > hitsBefore;
        },
        { timeoutMs: HEAL_SLO_MS, intervalMs: 200 },
      ).then(
        () => true,
        () => false,
      );
      const healMs = Math.round(performance.now() - healedAt);
      if (healed) ctx.mark('recovered', `cache hits again ${healMs} ms after the writer stopped`);

      const ok = load.byStatus['200'] ?? 0;
      const unavailable = load.byStatus['503'] ?? 0;
      const errors500 = load.byStatus['500'] ?? 0;
      const network = load.byStatus.network ?? 0;
      const other = load.sent - ok - unavailable - errors500 - network;
      const violations: string[] = [];
      if (errors500 > 0) violations.push(`${errors500} reads answered 500 while the cache was poisoned`);
      if (network > 0) violations.push(`${network} reads got no answer at all`);
      if (other > 0) violations.push(`${other} reads answered something other than 200 or 503`);
      if (load.missingRetryAfter > 0) violations.push(`${load.missingRetryAfter} 503s had no Retry-After`);
      if (ok === 0) violations.push('no price list was served during the fault: the API stopped serving');
      if (fallbackQueries > cap)
        violations.push(
          `${fallbackQueries} fallback queries reached the database; the cap for ${seconds.toFixed(1)}s is ${cap}`,
        );
      if (poisonMisses === 0) violations.push('no read found poison: the fault did not take effect');
      if (!healed)
        violations.push(
          `the cache did not serve hits again within ${HEAL_SLO_MS / 1000}s of the writer stopping`,
        );
      return {
        verdict: violations.length === 0 ? 'pass' : 'fail',
        summary:
          `${load.sent} reads over ${seconds.toFixed(1)}s of 100% poison: ${ok} served, ${unavailable} 503, ${errors500} 500; ` +
          `${fallbackQueries} fallback queries (cap ${cap}: ${rate}/s + burst ${burst}), ${poisonMisses} poisoned reads` +
          (healed ? `; healed ${(healMs / 1000).toFixed(1)}s after` : '; did not heal'),
        measurements: {
          poisonMs: POISON_MS,
          readClients: READ_CLIENTS,
          reads: load.sent,
          served200: ok,
          unavailable503: unavailable,
          errors500,
          noAnswer: network,
          poisonedReads: poisonMisses,
          poisonRounds: poisoner.rounds,
          fallbackQueries,
          fallbackCap: cap,
          fallbackRatePerSec: rate,
          fallbackQueriesPerSec: Number((fallbackQueries / seconds).toFixed(1)),
          refusedByGuard: refused,
          coalescedWaits: coalesced,
          healMs: healed ? healMs : null,
        },
        violations,
        recoveryMs: healed ? healMs : null,
      };
    } finally {
      redis.disconnect();
      poisonRedis.disconnect();
    }
  },
};
