// The environment stamp of a Postgres database: one row in
// public.firebreak_environment, written once when the database is
// provisioned.
//
// - Single row: the primary key is a boolean that a CHECK pins to true.
// - Written once: a trigger refuses UPDATE, DELETE and TRUNCATE. Re-stamping
//   takes a deliberate DROP TABLE by the database owner, never an accident.
// - Readable by every role (GRANT SELECT TO PUBLIC), so the least privileged
//   service role can check it.
// - Stamping is one transaction under an advisory lock, so two processes
//   adopting the same fresh database at once cannot both create the table.
// Reading it is one SELECT: the per-connection check (pgConnectionFence.ts)
// costs one round trip per new physical connection.

import type pg from 'pg';
import type { Stamp } from './environment.ts';

export const STAMP_TABLE = 'public.firebreak_environment';

/**
 * Connections the fence opens to check or stamp a database: the per-connection
 * check (pgConnectionFence.ts) leaves them alone, they are the check.
 */
export const unfencedClients = new WeakSet<object>();

/** pg_advisory_xact_lock key of the stamping transaction: ascii "fbenv" as a number. */
const STAMP_LOCK = 439_804_718_710;

const READ_STAMP = `SELECT env, stamped_at, stamped_by FROM ${STAMP_TABLE}`;

const CREATE_STAMP_TABLE = `
CREATE TABLE ${STAMP_TABLE} (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  env        text NOT NULL CHECK (env ~ '^[a-z][a-z0-9-]{0,30}$'),
  stamped_at timestamptz NOT NULL DEFAULT now(),
  stamped_by text NOT NULL
);
COMMENT ON TABLE ${STAMP_TABLE} IS
  'Firebreak environment stamp: the environment that owns this database. Written once; see docs/guardrails.md#environment-fence.';
CREATE OR REPLACE FUNCTION public.firebreak_environment_is_written_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'firebreak_environment is written once: an environment stamp is never changed or removed'
    USING HINT = 'A database that really changes environment is re-stamped by dropping the table deliberately; see docs/guardrails.md.';
END $$;
CREATE TRIGGER firebreak_environment_no_update BEFORE UPDATE OR DELETE ON ${STAMP_TABLE}
  FOR EACH ROW EXECUTE FUNCTION public.firebreak_environment_is_written_once();
CREATE TRIGGER firebreak_environment_no_truncate BEFORE TRUNCATE ON ${STAMP_TABLE}
  FOR EACH STATEMENT EXECUTE FUNCTION public.firebreak_environment_is_written_once();
GRANT SELECT ON ${STAMP_TABLE} TO PUBLIC;
`;

const INSERT_STAMP = `INSERT INTO ${STAMP_TABLE} (env, stamped_by) VALUES ($1, $2) ON CONFLICT (singleton) DO NOTHING`;

interface StampRow {
  env: string;
  stamped_at: Date;
  stamped_by: string;
}

const toStamp = (r: StampRow): Stamp => ({
  env: r.env,
  stampedAt: r.stamped_at.toISOString(),
  stampedBy: r.stamped_by,
});

/** undefined_table, invalid_schema_name: the database was never stamped. */
const NOT_STAMPED = new Set(['42P01', '3F000']);

/** The database's stamp (zero or one), read on the given connection. */
export async function readPgStamps(client: pg.ClientBase): Promise<Stamp[]> {
  try {
    const { rows } = await client.query<StampRow>(READ_STAMP);
    return rows.map(toStamp);
  } catch (err) {
    if (NOT_STAMPED.has((err as { code?: string }).code ?? '')) return [];
    throw err;
  }
}

/**
 * Stamps the database for `env` unless it already carries a stamp, and
 * returns the stamp it carries afterwards (which is another environment's if
 * it was stamped before: the caller refuses that). Runs its own transaction on
 * the given connection, which must not be inside one.
 */
export async function writePgStamp(client: pg.ClientBase, env: string, by: string): Promise<Stamp[]> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [STAMP_LOCK]);
    const { rows } = await client.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [
      STAMP_TABLE,
    ]);
    if (!rows[0]?.exists) await client.query(CREATE_STAMP_TABLE);
    await client.query(INSERT_STAMP, [env, by]);
    const stamps = await client.query<StampRow>(READ_STAMP);
    await client.query('COMMIT');
    return stamps.rows.map(toStamp);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
