-- Up Migration

-- The API's read-mostly catalog lookups (src/cache/catalog/): price lists,
-- plans and FX rates, served by the public lookup routes through the Redis
-- cache, with these tables as the database fallback. They live in the API's
-- own (queue/intake) database, never the ledger's: the API does not touch the
-- ledger. A projection of the catalog file the API loads (CATALOG_PATH),
-- synced at start by syncCatalogLookups; applied with its own migrations
-- table (catalog_lookup_migrations).
CREATE TABLE catalog_creator (
  creator_id uuid PRIMARY KEY,
  name text NOT NULL
);

CREATE TABLE catalog_plan (
  plan_id uuid PRIMARY KEY,
  creator_id uuid NOT NULL REFERENCES catalog_creator (creator_id) ON DELETE CASCADE,
  name text NOT NULL,
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  -- Minor units of `currency`, as everywhere in Firebreak.
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  cadence text NOT NULL CHECK (cadence IN ('weekly', 'monthly', 'yearly'))
);

-- A creator's price list is one index range.
CREATE INDEX catalog_plan_by_creator ON catalog_plan (creator_id, plan_id);

CREATE TABLE catalog_fx_rate (
  currency text PRIMARY KEY CHECK (currency ~ '^[A-Z]{3}$'),
  -- USD per one whole unit, exact (numeric keeps the decimal as written).
  usd_per_unit numeric NOT NULL CHECK (usd_per_unit > 0),
  snapshot_id text NOT NULL
);

-- Down Migration

DROP TABLE catalog_fx_rate;
DROP TABLE catalog_plan;
DROP TABLE catalog_creator;
