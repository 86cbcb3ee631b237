// The environment stamp of the stack's databases, as `firebreak up` writes
// it when it provisions them and `firebreak status` shows it. The stamp
// itself (table, write-once trigger, reading rules) belongs to the
// environment fence, src/guardrails/fence/postgresStamp.ts; this file only
// connects to a database and calls it.

import pg from 'pg';
import { stampedBy } from '../guardrails/fence/environment.ts';
import { readPgStamps, writePgStamp } from '../guardrails/fence/postgresStamp.ts';

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Stamps a database for `env` unless it carries a stamp already; returns the
 * stamp it carries afterwards (another environment's if it was stamped before).
 */
export async function stampDatabase(url: string, env: string): Promise<string> {
  return withClient(url, async (c) => {
    const stamps = await writePgStamp(c, env, stampedBy('firebreak up'));
    return stamps[0]?.env ?? 'unstamped';
  });
}

/** The environment a database is stamped for, or 'unstamped'. */
export async function readDatabaseStamp(url: string): Promise<string> {
  return withClient(url, async (c) => (await readPgStamps(c))[0]?.env ?? 'unstamped');
}
