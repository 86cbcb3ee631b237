// `firebreak snapshot`: an encrypted, checksummed copy of a running `up`
// stack's stores, taken online — the servers keep serving.
//
// Per Postgres store (queue first, then ledger, see below):
//   1. pg_backup_start, copy the data directory into the pack, pg_backup_stop
//      (baseBackup.ts); the copy alone recovers to "some point during the copy".
//   2. One short transaction on the application database takes SHARE locks on
//      every table (writers wait; readers do not), counts each table's rows and
//      writes a named restore point (pg_create_restore_point) before
//      committing. No write to those tables can commit between the counts and
//      the restore point, so a copy recovered to that restore point holds
//      exactly the counted rows: the manifest's row counts are exact, and
//      restore checks them. Writers wait for the counts (~1 s per GB of rows).
//   3. The WAL from the backup's start to the restore point goes into the
//      pack; the backup session's temporary slot kept it from being recycled.
// Order: queue, then ledger, then the provider's record. Each later copy is
// newer, and the system recovers from that skew: a queue message whose
// charge the (newer) ledger already holds is redelivered and finds it (the
// worker is idempotent), and a capture the (newer) provider record holds
// without a ledger row is found again by its idempotency key when the
// (older) queue redelivers it. The opposite order could drop a message whose
// charge the older ledger never saw.
//
// Files: ledger.fbpack, queue.fbpack, provider.fbpack (the provider's record
// and the stack's settings, seed included: secrets stay encrypted), and
// manifest.json (pack.ts, manifest.ts). The key is never written here.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { fbError } from '../../errors/index.ts';
import { BackupSession, walFilesBetween } from '../baseBackup.ts';
import { listDataDir, readFixedSize } from '../dataDir.ts';
import type { Component, StackState } from '../stackState.ts';
import {
  FORMAT,
  signManifest,
  writeManifest,
  type Manifest,
  type PackEntry,
  type StoreEntry,
} from './manifest.ts';
import { PackWriter } from './pack.ts';
import { deriveKeys, type SnapshotKeys } from './snapshotKey.ts';

/** What the provider pack's stack.json holds: enough to boot the same stack again. */
export interface StackSettings {
  readonly environment: string;
  readonly seed: string;
  readonly creators: number;
  readonly ledgerStandby: boolean;
  readonly redis: boolean;
}

export const CONSISTENCY =
  'online: pg_backup_start/pg_backup_stop per server, then row counts and a named restore point ' +
  'taken under SHARE locks on every table; each store recovers to its restore point (queue, then ledger, then provider record)';

const RETRYABLE_LOCK = new Set(['40P01', '55P03']); // deadlock_detected, lock_not_available

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Counts every table's rows and writes a restore point, with writers held off in between. */
export async function countAtRestorePoint(
  appUrl: string,
  restorePoint: string,
): Promise<{ rowCounts: Record<string, string>; lsn: string }> {
  const client = new pg.Client({ connectionString: appUrl, application_name: 'firebreak-snapshot' });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY 1`,
    );
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query('BEGIN');
        await client.query(`SET LOCAL lock_timeout = '10s'`);
        if (tables.length)
          await client.query(`LOCK TABLE ${tables.map((t) => t.name).join(', ')} IN SHARE MODE`);
        const rowCounts: Record<string, string> = {};
        for (const t of tables) {
          const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.name}`);
          rowCounts[t.name] = rows[0]!.n;
        }
        const { rows } = await client.query<{ lsn: string }>(
          'SELECT pg_create_restore_point($1)::text AS lsn',
          [restorePoint],
        );
        await client.query('COMMIT');
        return { rowCounts, lsn: rows[0]!.lsn };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        if (attempt >= 5 || !RETRYABLE_LOCK.has((err as { code?: string }).code ?? '')) throw err;
      }
    }
  } finally {
    await client.end().catch(() => {});
  }
}

async function snapshotStore(
  c: Component,
  role: 'ledger' | 'queue',
  outDir: string,
  id: string,
  keys: SnapshotKeys,
): Promise<{ store: StoreEntry; pack: PackEntry }> {
  if (!c.dataDir || !c.database) throw new Error(`state has no data directory for ${c.name}`);
  const dataDir = c.dataDir;
  const session = await BackupSession.begin(
    withDatabase(c.probe, 'postgres'),
    `firebreak snapshot ${id} ${role}`,
  );
  const pack = new PackWriter(join(outDir, `${role}.fbpack`), keys.enc, `${id}/${role}`);
  try {
    for (const e of await listDataDir(dataDir)) {
      if (e.type === 'dir') await pack.addDir(`data/${e.path}`, e.mode);
      else await pack.addFile(`data/${e.path}`, e.mode, e.size, readFixedSize(join(dataDir, e.path), e.size));
    }
    const stop = await session.stop();
    await pack.addBuffer('data/backup_label', 0o600, Buffer.from(stop.label));
    if (stop.tablespaceMap)
      await pack.addBuffer('data/tablespace_map', 0o600, Buffer.from(stop.tablespaceMap));
    const restorePoint = `firebreak-${id}-${role}`;
    const { rowCounts } = await countAtRestorePoint(c.probe, restorePoint);
    const lastWal = await session.switchWal();
    const pgWal = join(dataDir, 'pg_wal');
    const wal = await walFilesBetween(pgWal, session.startWalFile, lastWal);
    await pack.addDir('wal', 0o700);
    for (const name of wal) {
      const size = (await stat(join(pgWal, name))).size;
      await pack.addFile(`wal/${name}`, 0o600, size, readFixedSize(join(pgWal, name), size));
    }
    const summary = await pack.finish();
    return {
      store: {
        role,
        database: c.database,
        restorePoint,
        backupStartLsn: session.startLsn,
        backupStopLsn: stop.stopLsn,
        walFiles: wal.filter((n) => !n.endsWith('.history')).length,
        rowCounts,
      },
      pack: packEntry(role, summary),
    };
  } catch (err) {
    pack.destroy();
    throw err;
  } finally {
    await session.close();
  }
}

function packEntry(role: PackEntry['role'], s: Awaited<ReturnType<PackWriter['finish']>>): PackEntry {
  return {
    role,
    file: `${role}.fbpack`,
    bytes: s.bytes,
    sha256: s.sha256,
    iv: s.iv,
    tag: s.tag,
    entries: s.entries,
    plainBytes: s.plainBytes,
  };
}

/** The provider's record (whole lines only: a line being appended is left out) and the stack's settings. */
async function snapshotProvider(
  state: StackState,
  outDir: string,
  id: string,
  keys: SnapshotKeys,
): Promise<PackEntry> {
  const pack = new PackWriter(join(outDir, 'provider.fbpack'), keys.enc, `${id}/provider`);
  try {
    const settings: StackSettings = {
      environment: state.environment,
      seed: state.seed,
      creators: state.creators,
      ledgerStandby: state.components.some((c) => c.name === 'ledger-standby'),
      redis: state.components.some((c) => c.kind === 'redis'),
    };
    await pack.addBuffer('stack.json', 0o600, Buffer.from(JSON.stringify(settings)));
    const pspDir = join(state.stateDir, 'work', 'psp');
    await pack.addDir('psp', 0o700);
    for (const name of (await readdir(pspDir)).sort()) {
      const path = join(pspDir, name);
      if (!(await stat(path)).isFile()) continue;
      let data = await readFile(path);
      if (name.endsWith('.jsonl')) data = data.subarray(0, data.lastIndexOf(0x0a) + 1);
      await pack.addBuffer(`psp/${name}`, 0o600, data);
    }
    return packEntry('provider', await pack.finish());
  } catch (err) {
    pack.destroy();
    throw err;
  }
}

async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
  } finally {
    await client.end().catch(() => {});
  }
}

export interface SnapshotResult {
  readonly dir: string;
  readonly manifest: Manifest;
}

/** Takes a snapshot of a running stack into `outDir` (which must not exist, or be empty). */
export async function takeSnapshot(o: {
  readonly state: StackState;
  readonly outDir: string;
  readonly key: Buffer;
  readonly onProgress?: (message: string) => void;
}): Promise<SnapshotResult> {
  const existing = await readdir(o.outDir).catch(() => undefined);
  if (existing && existing.length > 0)
    throw fbError('FB_USAGE', `snapshot directory ${o.outDir} is not empty; name a new one.`, {
      field: '--out',
    });
  const find = (name: string) => {
    const c = o.state.components.find((x) => x.name === name);
    if (!c) throw fbError('FB_STACK_STATE_INVALID', `the stack's state has no ${name} component`);
    return c;
  };
  const ledger = find('ledger');
  const queue = find('queue');
  await mkdir(o.outDir, { recursive: true, mode: 0o700 });
  const id = randomBytes(16).toString('hex');
  const keys = deriveKeys(o.key, id);
  const timings: Record<string, number> = {};
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    o.onProgress?.(`snapshot: ${what}`);
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings[`${what}Ms`] = Math.round(performance.now() - t0);
    }
  };
  try {
    const q = await timed('queue', () => snapshotStore(queue, 'queue', o.outDir, id, keys));
    const l = await timed('ledger', () => snapshotStore(ledger, 'ledger', o.outDir, id, keys));
    const p = await timed('provider', () => snapshotProvider(o.state, o.outDir, id, keys));
    const manifest = signManifest(
      {
        format: FORMAT,
        id,
        createdAt: new Date().toISOString(),
        cipher: 'aes-256-gcm',
        keyCheck: keys.check,
        consistency: CONSISTENCY,
        source: {
          environment: o.state.environment,
          stateDir: o.state.stateDir,
          postgres: await postgresVersion(ledger.probe),
        },
        stores: [l.store, q.store],
        packs: [l.pack, q.pack, p],
        timings,
      },
      keys,
    );
    await writeManifest(o.outDir, manifest);
    return { dir: o.outDir, manifest };
  } catch (err) {
    await rm(o.outDir, { recursive: true, force: true });
    throw err;
  }
}
