// The public catalog lookups, served through the versioned Redis cache with
// a guarded database fallback (src/cache/):
//
//   GET /v1/creators/:creatorId/plans   a creator's price list
//   GET /v1/plans/:planId               one plan
//   GET /v1/fx/:currency                the FX rate to USD of the current snapshot
//
// Public, without an API key: a price list is what a creator's checkout page
// shows to fans, who have no key, and creator ids are already public (they
// are in checkout links). Being public is also why the guard matters here:
// anyone can send these reads, including for ids that do not exist (those are
// remembered as "none" for a while) and at any rate (the fallback's caps).
//
// A miss the fallback cannot answer is 503 FB_CATALOG_UNAVAILABLE with
// Retry-After; nothing about a cache entry, Redis or the database is ever a
// 500. These routes do not touch the checkout path (which validates against
// the in-memory catalog).

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { FallbackUnavailableError } from '../cache/fallbackGuard.ts';
import type { CatalogLookups } from '../cache/catalog/index.ts';
import { FX_TTL_MS, PLAN_TTL_MS } from '../cache/catalog/index.ts';
import { fbError } from '../errors/index.ts';
import { SUPPORTED_CURRENCIES } from '../money/index.ts';

export interface CatalogRoutesOptions {
  readonly lookups: CatalogLookups;
}

const uuid = z.uuid();

function uuidParam(value: string, field: string, what: string): string {
  if (!uuid.safeParse(value).success)
    throw fbError('FB_INVALID_FIELD', `The ${what} in the URL must be a UUID.`, { field });
  return value.toLowerCase();
}

function currencyParam(value: string): string {
  if (!(SUPPORTED_CURRENCIES as readonly string[]).includes(value))
    throw fbError(
      'FB_UNKNOWN_CURRENCY',
      `The currency in the URL must be one of ${SUPPORTED_CURRENCIES.join(', ')} (uppercase ISO 4217).`,
      { field: 'params.currency' },
    );
  return value;
}

/** The one error a lookup can fail with, as the 503 clients see. */
async function lookup<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof FallbackUnavailableError)) throw err;
    const retryAfterSec = Math.max(1, Math.ceil(err.retryAfterMs / 1000));
    throw fbError(
      'FB_CATALOG_UNAVAILABLE',
      `The ${what} cannot be read right now (${err.reason.replaceAll('_', ' ')}); retry after ${retryAfterSec} s.`,
      { retryAfterSec, cause: err },
    );
  }
}

function cacheControl(ttlMs: number): string {
  return `public, max-age=${Math.floor(ttlMs / 1000)}`;
}

export function catalogRoutes(app: FastifyInstance, options: CatalogRoutesOptions): void {
  const { lookups } = options;

  app.get<{ Params: { creatorId: string } }>('/v1/creators/:creatorId/plans', async (request, reply) => {
    const creatorId = uuidParam(request.params.creatorId, 'params.creatorId', 'creator id');
    const priceList = await lookup('price list', () => lookups.creatorPlans(creatorId));
    if (priceList === null)
      throw fbError('FB_NOT_FOUND', `No creator ${creatorId} exists; check the id.`, {
        field: 'params.creatorId',
      });
    reply.header('cache-control', cacheControl(PLAN_TTL_MS));
    return priceList;
  });

  app.get<{ Params: { planId: string } }>('/v1/plans/:planId', async (request, reply) => {
    const planId = uuidParam(request.params.planId, 'params.planId', 'plan id');
    const plan = await lookup('plan', () => lookups.plan(planId));
    if (plan === null)
      throw fbError('FB_NOT_FOUND', `No plan ${planId} exists; check the id.`, { field: 'params.planId' });
    reply.header('cache-control', cacheControl(PLAN_TTL_MS));
    return plan;
  });

  app.get<{ Params: { currency: string } }>('/v1/fx/:currency', async (request, reply) => {
    const currency = currencyParam(request.params.currency);
    const rate = await lookup('FX rate', () => lookups.fxRate(currency));
    if (rate === null)
      throw fbError('FB_NOT_FOUND', `The current FX snapshot has no rate for ${currency}.`, {
        field: 'params.currency',
      });
    reply.header('cache-control', cacheControl(FX_TTL_MS));
    return rate;
  });
}
