// The environment fence against real Postgres: the stamp table (written once,
// one row, readable by any role), check / adopt / refuse, and the check on
// every new connection, including a pool that reconnects to a different
// server behind the same address.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { isFirebreakError } from '../../src/errors/index.ts';
import { Fence } from '../../src/guardrails/fence/fence.ts';
import {
  fencePoolOnConnect,
  installPgConnectionFence,
} from '../../src/guardrails/fence/pgConnectionFence.ts';
import { parseResourceUrl } from '../../src/guardrails/fence/resourceUrl.ts';
import { PostgresServer } from '../../src/stack/postgresServer.ts';
import { freshDatabase } from '../helpers/postgres.ts';

const resource = (url: string, name = '') => parseResourceUrl(url, { name });

async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const rejectsWith = (code: string, pattern?: RegExp) => (err: unknown) => {
  assert.ok(isFirebreakError(err), `expected a FirebreakError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (pattern) assert.match(err.message, pattern);
  return true;
};

test('stamp writes one row, once: the same environment again is a no-op, another is refused and nothing changes', async () => {
  const url = await freshDatabase();
  const staging = new Fence({ env: 'staging', stampedBy: 'provisioning job 17' });
  const first = await staging.stamp(resource(url));
  assert.equal(first.outcome, 'adopted');
  assert.equal(first.stamp?.env, 'staging');
  assert.equal(first.stamp?.stampedBy, 'provisioning job 17');

  const again = await staging.stamp(resource(url));
  assert.equal(again.outcome, 'ok');
  assert.equal(again.stamp?.stampedAt, first.stamp?.stampedAt, 'not rewritten');

  const production = new Fence({ env: 'production' });
  const conflict = await production.stamp(resource(url));
  assert.equal(conflict.outcome, 'mismatch');
  assert.equal(conflict.stamp?.env, 'staging');
  assert.deepEqual(await query(url, 'SELECT env, stamped_by FROM firebreak_environment'), [
    { env: 'staging', stamped_by: 'provisioning job 17' },
  ]);
});

test('the stamp table holds one row and refuses UPDATE, DELETE and TRUNCATE', async () => {
  const url = await freshDatabase();
  await new Fence({ env: 'staging' }).stamp(resource(url));
  await assert.rejects(
    query(
      url,
      `INSERT INTO firebreak_environment (singleton, env, stamped_by) VALUES (false, 'production', 'x')`,
    ),
    /check constraint/,
  );
  await assert.rejects(
    query(url, `INSERT INTO firebreak_environment (env, stamped_by) VALUES ('production', 'x')`),
    /duplicate key/,
  );
  for (const sql of [
    `UPDATE firebreak_environment SET env = 'production'`,
    `DELETE FROM firebreak_environment`,
    `TRUNCATE firebreak_environment`,
  ]) {
    await assert.rejects(query(url, sql), /written once/, sql);
  }
  assert.deepEqual(await query(url, 'SELECT env FROM firebreak_environment'), [{ env: 'staging' }]);
});

test('check: ours is ok; another environment is refused naming both; unstamped is refused unless adopting', async () => {
  const prod = await freshDatabase();
  await new Fence({ env: 'production' }).stamp(resource(prod));
  const refusals: string[] = [];
  const staging = new Fence({ env: 'staging', onRefused: (_v, err) => refusals.push(err.code) });

  await assert.rejects(
    staging.verify(resource(prod, 'ledger database')),
    rejectsWith(
      'FB_ENV_MISMATCH',
      /^ledger database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/t_\w+ belongs to environment "production" .*this process runs as "staging"/,
    ),
  );
  assert.equal((await new Fence({ env: 'production' }).check(resource(prod))).outcome, 'ok');

  const fresh = await freshDatabase();
  await assert.rejects(staging.verify(resource(fresh)), rejectsWith('FB_ENV_UNSTAMPED', /--env staging/));
  assert.deepEqual(
    await query(fresh, `SELECT to_regclass('public.firebreak_environment') AS t`),
    [{ t: null }],
    'a refused check writes nothing',
  );
  assert.deepEqual(refusals, ['FB_ENV_MISMATCH', 'FB_ENV_UNSTAMPED']);
  const metrics = await staging.metrics.registry.metrics();
  assert.match(metrics, /firebreak_env_fence_refusals_total\{resource_kind="postgres"\} 2/);
  assert.match(metrics, /firebreak_env_fence_refusals_total\{resource_kind="redis"\} 0/);

  const adopting = new Fence({ env: 'dev', adopt: true });
  assert.equal((await adopting.check(resource(fresh))).outcome, 'adopted');
  assert.equal((await adopting.check(resource(fresh))).outcome, 'ok');
  // Adopting never takes over a database another environment owns.
  assert.equal((await adopting.check(resource(prod))).outcome, 'mismatch');
});

test('ten processes adopting one fresh database at once leave exactly one stamp', async () => {
  const url = await freshDatabase();
  const verdicts = await Promise.all(
    Array.from({ length: 10 }, () => new Fence({ env: 'dev', adopt: true }).check(resource(url))),
  );
  assert.ok(verdicts.every((v) => v.outcome === 'adopted' || v.outcome === 'ok'));
  assert.deepEqual(await query(url, 'SELECT count(*)::int AS n FROM firebreak_environment'), [{ n: 1 }]);
});

test('a least-privileged role (CONNECT only) can read the stamp', async () => {
  const url = await freshDatabase();
  await new Fence({ env: 'staging' }).stamp(resource(url));
  const db = new URL(url).pathname.slice(1);
  await query(url, `DROP ROLE IF EXISTS fence_reader`).catch(() => {});
  await query(url, `CREATE ROLE fence_reader LOGIN PASSWORD 'reader-pw'`);
  await query(url, `GRANT CONNECT ON DATABASE ${db} TO fence_reader`);
  const asReader = url.replace('postgres:firebreak@', 'fence_reader:reader-pw@');
  assert.equal((await new Fence({ env: 'staging' }).check(resource(asReader))).outcome, 'ok');
  await assert.rejects(query(asReader, 'DELETE FROM firebreak_environment'), /permission denied/);
});

test("pg-pool's onConnect: a pool to another environment's database hands out no connection", async () => {
  const staging = await freshDatabase();
  const prod = await freshDatabase();
  await new Fence({ env: 'staging' }).stamp(resource(staging));
  await new Fence({ env: 'production' }).stamp(resource(prod));
  const fence = new Fence({ env: 'staging' });

  const good = new pg.Pool({ connectionString: staging, onConnect: fencePoolOnConnect(fence) });
  assert.deepEqual((await good.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  await good.end();

  const wrong = new pg.Pool({
    connectionString: prod,
    onConnect: fencePoolOnConnect(fence, [resource(prod, 'queue database') as never]),
  });
  await assert.rejects(
    wrong.query(`CREATE TABLE written_by_staging (id int)`),
    // Named after the configured resource it matches; a live connection's URL never has a password.
    rejectsWith(
      'FB_ENV_MISMATCH',
      /^queue database postgres:\/\/postgres@127\.0\.0\.1:\d+\/t_\w+ belongs to/,
    ),
  );
  assert.equal(wrong.totalCount, 0, 'the refused connection was ended');
  await wrong.end();
  assert.deepEqual(await query(prod, `SELECT to_regclass('written_by_staging') AS t`), [{ t: null }]);
});

test('installPgConnectionFence checks every physical connection of the process, pools and plain clients alike', async () => {
  const staging = await freshDatabase();
  const prod = await freshDatabase();
  await new Fence({ env: 'staging' }).stamp(resource(staging));
  await new Fence({ env: 'production' }).stamp(resource(prod));
  const uninstall = installPgConnectionFence(new Fence({ env: 'staging' }));
  try {
    assert.throws(() => installPgConnectionFence(new Fence({ env: 'staging' })), /already installed/);
    const pool = new pg.Pool({ connectionString: staging, max: 2 });
    assert.deepEqual((await pool.query('SELECT 2 AS two')).rows, [{ two: 2 }]);
    await pool.end();

    const prodPool = new pg.Pool({ connectionString: prod });
    await assert.rejects(prodPool.query('SELECT 1'), rejectsWith('FB_ENV_MISMATCH', /"production"/));
    await prodPool.end();
    const client = new pg.Client({ connectionString: prod });
    client.on('error', () => {});
    await assert.rejects(client.connect(), rejectsWith('FB_ENV_MISMATCH'));
    // The callback form, as pg-pool calls it.
    const cb = new pg.Client({ connectionString: prod });
    cb.on('error', () => {});
    const err = await new Promise<unknown>((resolve) => cb.connect((e: Error | null) => resolve(e)));
    assert.ok(isFirebreakError(err) && err.code === 'FB_ENV_MISMATCH');
  } finally {
    uninstall();
  }
  // Uninstalled: plain connections again.
  assert.deepEqual(await query(prod, 'SELECT 3 AS three'), [{ three: 3 }]);
});

const servers: PostgresServer[] = [];
after(async () => {
  await Promise.allSettled(servers.map((s) => s.destroy()));
});

test('a pool reconnecting after a failover to another server on the same address is refused there', async () => {
  const a = await PostgresServer.start({ name: 'fence-a' });
  servers.push(a);
  const url = await a.createDatabase('app');
  await new Fence({ env: 'staging' }).stamp(resource(url));

  const fence = new Fence({ env: 'staging' });
  const pool = new pg.Pool({ connectionString: url, max: 1, onConnect: fencePoolOnConnect(fence) });
  pool.on('error', () => {});
  assert.deepEqual((await pool.query('SELECT 1 AS one')).rows, [{ one: 1 }]);

  // The "failover": the staging server goes away, a production server answers on the same port.
  await a.stop();
  const b = await PostgresServer.start({ name: 'fence-b', port: a.port });
  servers.push(b);
  // Stamped before it exists under the name the pool uses: created from a stamped template.
  const template = await b.createDatabase('prod_template');
  await new Fence({ env: 'production' }).stamp(resource(template));
  await b.createDatabase('app', 'prod_template');
  const before = await query<{ n: number }>(
    b.url('app'),
    `SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace`,
  );

  await assert.rejects(
    pool.query('CREATE TABLE written_after_failover (id int)'),
    rejectsWith('FB_ENV_MISMATCH', /belongs to environment "production".*runs as "staging"/),
  );
  await pool.end();
  assert.deepEqual(
    await query(
      b.url('app'),
      `SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace`,
    ),
    before,
    'nothing was created on the production server',
  );
});
