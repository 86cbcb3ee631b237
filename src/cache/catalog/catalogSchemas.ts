// The cached shapes of the catalog lookups, one versioned cache schema each.
// Money is a decimal string of minor units (bigint-safe), as on the wire.
//
// To change a shape: add version N+1 here with `previous` = today's payload
// and an upgrade, ship it (readers first), and only then anything that writes
// N+1 for other readers (docs/guardrails.md, "Rolling a schema version").

import { z } from 'zod';
import { CADENCES } from '../../catalog/index.ts';
import { SUPPORTED_CURRENCIES, parseRate } from '../../money/index.ts';
import { defineCacheSchema } from '../cacheSchema.ts';

const currency = z.enum(SUPPORTED_CURRENCIES as [string, ...string[]]);
const amountMinor = z.string().regex(/^[1-9][0-9]{0,12}$/);
const name = z.string().min(1).max(200);

function isRate(text: string): boolean {
  try {
    parseRate(text);
    return true;
  } catch {
    return false;
  }
}

export const PlanViewSchema = z
  .object({
    planId: z.uuid(),
    name,
    currency,
    amountMinor,
    cadence: z.enum(CADENCES),
  })
  .strict();
export type PlanView = z.infer<typeof PlanViewSchema>;

export const CreatorPlansSchema = z
  .object({
    creatorId: z.uuid(),
    creatorName: name,
    plans: z.array(PlanViewSchema).max(10_000),
  })
  .strict();
export type CreatorPlans = z.infer<typeof CreatorPlansSchema>;

export const PlanSchema = PlanViewSchema.extend({ creatorId: z.uuid() }).strict();
export type PlanDetail = z.infer<typeof PlanSchema>;

export const FxRateSchema = z
  .object({
    currency,
    /** USD per one whole unit, an exact decimal string. */
    usdPerUnit: z.string().refine(isRate, 'must be a positive decimal with at most 12 places'),
    snapshotId: z.string().min(1).max(64),
  })
  .strict();
export type FxRate = z.infer<typeof FxRateSchema>;

export const creatorPlansCacheSchema = defineCacheSchema({
  name: 'creator-plans',
  version: 1,
  payload: CreatorPlansSchema,
});

export const planCacheSchema = defineCacheSchema({ name: 'plan', version: 1, payload: PlanSchema });

export const fxRateCacheSchema = defineCacheSchema({ name: 'fx-rate', version: 1, payload: FxRateSchema });
