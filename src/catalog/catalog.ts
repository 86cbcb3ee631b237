// The catalog: creators, their plans, their API keys (as sha256 digests, never
// the keys themselves) and the FX rate snapshot. The API validates requests
// against it without touching the ledger database; the ledger is seeded from
// the same document so both agree.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { SUPPORTED_CURRENCIES } from '../money/index.ts';
import { parseRate } from '../money/fx.ts';
import { fbError } from '../errors/index.ts';

const currency = z.enum(SUPPORTED_CURRENCIES as [string, ...string[]]);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex sha256 digest');

export const CADENCES = ['weekly', 'monthly', 'yearly'] as const;

export const CatalogSchema = z
  .object({
    creators: z
      .array(
        z
          .object({
            id: z.uuid(),
            name: z.string().min(1).max(200),
            apiKeySha256: z.array(sha256Hex).min(1),
          })
          .strict(),
      )
      .min(1),
    plans: z.array(
      z
        .object({
          id: z.uuid(),
          creatorId: z.uuid(),
          name: z.string().min(1).max(200),
          currency,
          amountMinor: z.string().regex(/^[1-9][0-9]{0,12}$/),
          cadence: z.enum(CADENCES),
        })
        .strict(),
    ),
    /** USD per one whole unit of each currency, as exact decimal strings. */
    fxRates: z.partialRecord(
      currency,
      z.string().refine((r) => {
        try {
          parseRate(r);
          return true;
        } catch {
          return false;
        }
      }, 'must be a positive decimal with at most 12 places'),
    ),
    /** Identifies this FX snapshot; stored with each charge. */
    fxSnapshotId: z.string().min(1).max(64),
  })
  .strict();

export type Catalog = z.infer<typeof CatalogSchema>;
export type Plan = Catalog['plans'][number];
export type Creator = Catalog['creators'][number];

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function parseCatalog(json: unknown, source = 'catalog'): Catalog {
  const parsed = CatalogSchema.safeParse(json);
  if (!parsed.success) {
    throw fbError('FB_CONFIG_INVALID', `${source} is invalid: ${z.prettifyError(parsed.error)}`);
  }
  const catalog = parsed.data;
  const creatorIds = new Set(catalog.creators.map((c) => c.id));
  for (const plan of catalog.plans) {
    if (!creatorIds.has(plan.creatorId)) {
      throw fbError(
        'FB_CONFIG_INVALID',
        `${source}: plan ${plan.id} names unknown creator ${plan.creatorId}`,
      );
    }
  }
  for (const cur of SUPPORTED_CURRENCIES) {
    if (cur !== 'USD' && !(cur in catalog.fxRates)) {
      throw fbError('FB_CONFIG_INVALID', `${source}: fxRates has no rate for ${cur}`);
    }
  }
  return catalog;
}

export async function loadCatalog(path: string): Promise<Catalog> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw fbError('FB_CONFIG_INVALID', `cannot read catalog file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw fbError('FB_CONFIG_INVALID', `catalog file ${path} is not JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseCatalog(json, path);
}

/** Fast lookups built once from a catalog. */
export class CatalogIndex {
  readonly catalog: Catalog;
  private readonly creatorByKeyHash = new Map<string, Creator>();
  private readonly creators = new Map<string, Creator>();
  private readonly plans = new Map<string, Plan>();

  constructor(catalog: Catalog) {
    this.catalog = catalog;
    for (const creator of catalog.creators) {
      this.creators.set(creator.id, creator);
      for (const h of creator.apiKeySha256) this.creatorByKeyHash.set(h, creator);
    }
    for (const plan of catalog.plans) this.plans.set(plan.id, plan);
  }

  creatorForApiKey(apiKey: string): Creator | undefined {
    return this.creatorByKeyHash.get(sha256(apiKey));
  }

  creator(id: string): Creator | undefined {
    return this.creators.get(id);
  }

  plan(id: string): Plan | undefined {
    return this.plans.get(id);
  }

  fxRate(currency: string): string {
    if (currency === 'USD') return '1';
    const rate = (this.catalog.fxRates as Record<string, string | undefined>)[currency];
    if (rate === undefined) throw new RangeError(`no FX rate for ${currency}`);
    return rate;
  }
}
