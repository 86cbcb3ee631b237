// Shared by the stack tests: checkouts through a running stack's API, row
// counts read straight from a database, and "is anything of this stack left".

import { existsSync } from 'node:fs';
import pg from 'pg';
import { isSameProcessAlive, type StackState } from '../../src/stack/stackState.ts';

/** Posts n USD checkouts for the first creator; returns the HTTP statuses. */
export async function postCheckouts(state: StackState, n: number, prefix: string): Promise<number[]> {
  const [creatorId, apiKey] = Object.entries(state.keys.apiKeys)[0]!;
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${state.urls.api}/v1/checkouts`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${apiKey}`,
        'idempotency-key': `${prefix}-${i}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ creatorId, customerRef: `${prefix}-${i}`, amountMinor: '500', currency: 'USD' }),
      signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  return statuses;
}

export async function count(url: string, sql = 'SELECT count(*)::int AS n FROM checkouts'): Promise<number> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<{ n: number }>(sql)).rows[0]!.n;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Processes and directories of a recorded stack that still exist. */
export function leftovers(state: StackState): string[] {
  const procs = [state.supervisor, ...state.components.map((c) => c.proc)]
    .filter((p) => isSameProcessAlive(p))
    .map((p) => `pid ${p!.pid}`);
  const dirs = [...state.dirs, state.stateDir].filter((d) => existsSync(d));
  return [...procs, ...dirs];
}
