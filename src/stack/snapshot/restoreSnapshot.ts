// `firebreak restore SNAPSHOT`, the half that runs before a stack exists:
// check everything that can be checked without starting a server, then lay
// the stores out for recovery. The other half (verifyRestoredStores, run by
// the supervisor once the servers have started and before anything writes)
// checks that each store recovered to its restore point with exactly the row
// counts of the manifest.
//
// Order of checks, each refusing with nothing restored:
//   1. manifest.json parses and is this format      FB_SNAPSHOT_INVALID
//   2. the key's check value matches                FB_SNAPSHOT_WRONG_KEY
//   3. the manifest's HMAC matches                  FB_SNAPSHOT_CORRUPT
//   4. every pack's size and SHA-256 match          FB_SNAPSHOT_CORRUPT
//      (all packs, before any is decrypted)
//   5. decryption: every file's SHA-256 inside the pack, then the GCM tag
//                                                   FB_SNAPSHOT_CORRUPT
// Whatever was written before a refusal is removed.

import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { fbError } from '../../errors/index.ts';
import { waitFor } from '../../util/waitFor.ts';
import { PostgresServer, serverFileOwner } from '../postgresServer.ts';
import { authenticateManifest, readManifest, type Manifest, type StoreEntry } from './manifest.ts';
import { extractPack, fileSha256, under } from './pack.ts';
import { deriveKeys } from './snapshotKey.ts';
import type { StackSettings } from './takeSnapshot.ts';

export interface PreparedRestore {
  readonly manifest: Manifest;
  readonly settings: StackSettings;
  readonly ledgerRoot: string;
  readonly queueRoot: string;
  /** Removes the server directories (the caller removes the state directory). */
  readonly discard: () => Promise<void>;
  readonly timings: Record<string, number>;
}

/** Settings a restored copy must not keep from the server it was taken from. */
const PER_SERVER =
  /^\s*(primary_conninfo|primary_slot_name|synchronous_standby_names|restore_command|recovery_target\w*)\s*=/;

async function layOutStore(root: string, store: StoreEntry, owner: { uid: number; gid: number } | undefined) {
  const data = join(root, 'data');
  const auto = join(data, 'postgresql.auto.conf');
  const kept = (await readFile(auto, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l && !PER_SERVER.test(l));
  const archive = join(root, 'wal-archive');
  const recovery = [
    `restore_command = 'cp "${archive}/%f" "%p"'`,
    `recovery_target_name = '${store.restorePoint}'`,
    `recovery_target_action = 'promote'`,
    `recovery_target_timeline = 'current'`,
  ];
  await writeFile(auto, `${[...kept, ...recovery].join('\n')}\n`, { mode: 0o600 });
  await writeFile(join(data, 'recovery.signal'), '', { mode: 0o600 });
  await mkdir(join(data, 'pg_wal', 'archive_status'), { recursive: true, mode: 0o700 });
  if (owner)
    for (const p of [
      auto,
      join(data, 'recovery.signal'),
      join(data, 'pg_wal'),
      join(data, 'pg_wal', 'archive_status'),
    ])
      await chown(p, owner.uid, owner.gid);
}

/** Checks the snapshot and writes its stores into fresh server directories and its provider record into pspDir. */
export async function prepareRestore(o: {
  readonly snapshotDir: string;
  readonly key: Buffer;
  readonly pspDir: string;
  readonly serverParentDir?: string;
  readonly onProgress?: (message: string) => void;
}): Promise<PreparedRestore> {
  const timings: Record<string, number> = {};
  let t0 = performance.now();
  const manifest = await readManifest(o.snapshotDir);
  const keys = deriveKeys(o.key, manifest.id);
  authenticateManifest(manifest, keys);
  const pack = (role: string) => {
    const p = manifest.packs.find((x) => x.role === role);
    if (!p)
      throw fbError(
        'FB_SNAPSHOT_CORRUPT',
        `snapshot ${manifest.id} has no ${role} pack. Nothing was restored.`,
      );
    return p;
  };
  const packs = [pack('ledger'), pack('queue'), pack('provider')];
  const store = (role: string) => {
    const s = manifest.stores.find((x) => x.role === role);
    if (!s)
      throw fbError(
        'FB_SNAPSHOT_CORRUPT',
        `snapshot ${manifest.id} has no ${role} store. Nothing was restored.`,
      );
    return s;
  };
  o.onProgress?.('restore: checking every file against the manifest (size, SHA-256)');
  for (const p of packs) {
    const path = join(o.snapshotDir, p.file);
    const actual = await fileSha256(path).catch((err: unknown) => {
      throw fbError(
        'FB_SNAPSHOT_CORRUPT',
        `${p.file} cannot be read (${(err as Error).message}). Nothing was restored.`,
        {
          cause: err,
        },
      );
    });
    if (actual.bytes !== p.bytes || actual.sha256 !== p.sha256)
      throw fbError(
        'FB_SNAPSHOT_CORRUPT',
        `${p.file}: ${actual.bytes !== p.bytes ? `size ${actual.bytes} bytes, the manifest says ${p.bytes}` : `SHA-256 ${actual.sha256} does not match the manifest's ${p.sha256}`}. Nothing was restored; use another copy of the snapshot.`,
      );
  }
  timings.checksumMs = Math.round(performance.now() - t0);

  const owner = serverFileOwner();
  const roots: string[] = [];
  const discard = async () => {
    await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
  };
  try {
    t0 = performance.now();
    const result: Record<string, string> = {};
    for (const role of ['ledger', 'queue'] as const) {
      o.onProgress?.(`restore: decrypting the ${role} store`);
      const root = await PostgresServer.makeRoot({ name: role, parentDir: o.serverParentDir });
      roots.push(root);
      await mkdir(join(root, 'data'), { mode: 0o700 });
      await mkdir(join(root, 'wal-archive'), { mode: 0o700 });
      if (owner) for (const d of ['data', 'wal-archive']) await chown(join(root, d), owner.uid, owner.gid);
      const p = pack(role);
      const dataTarget = under('data', join(root, 'data'));
      const walTarget = under('wal', join(root, 'wal-archive'));
      await extractPack({
        path: join(o.snapshotDir, p.file),
        label: p.file,
        key: keys.enc,
        aad: `${manifest.id}/${role}`,
        iv: p.iv,
        tag: p.tag,
        target: (path) => dataTarget(path) ?? walTarget(path),
        owner,
      });
      await layOutStore(root, store(role), owner);
      result[role] = root;
    }
    o.onProgress?.('restore: decrypting the provider record');
    const p = pack('provider');
    await mkdir(o.pspDir, { recursive: true });
    const settingsPath = join(o.pspDir, '..', 'restored-stack.json');
    const pspTarget = under('psp', o.pspDir);
    await extractPack({
      path: join(o.snapshotDir, p.file),
      label: p.file,
      key: keys.enc,
      aad: `${manifest.id}/provider`,
      iv: p.iv,
      tag: p.tag,
      target: (path) => (path === 'stack.json' ? settingsPath : pspTarget(path)),
    });
    const settingsText = await readFile(settingsPath, 'utf8');
    await rm(settingsPath, { force: true });
    timings.decryptMs = Math.round(performance.now() - t0);
    return {
      manifest,
      settings: JSON.parse(settingsText) as StackSettings,
      ledgerRoot: result.ledger!,
      queueRoot: result.queue!,
      discard,
      timings,
    };
  } catch (err) {
    await discard();
    throw err;
  }
}

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
 * Waits for a restored server to reach its restore point and promote, clears
 * the recovery settings, and compares every table's row count with the
 * manifest. Runs before anything writes to the store.
 */
export async function verifyRestoredStore(server: PostgresServer, store: StoreEntry): Promise<void> {
  const fail = (what: string, cause?: unknown) =>
    fbError(
      'FB_SNAPSHOT_VERIFY_FAILED',
      `restored ${store.role} store: ${what}. The new stack was removed.`,
      { cause },
    );
  await waitFor(
    `the restored ${store.role} server to reach restore point ${store.restorePoint} and promote`,
    () =>
      withClient(
        server.url(),
        async (c) => !(await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r,
      ),
    { timeoutMs: 600_000, intervalMs: 50 },
  ).catch((err: unknown) => {
    throw fail('the server did not finish recovery', err);
  });
  await withClient(server.url(), async (c) => {
    for (const s of [
      'restore_command',
      'recovery_target_name',
      'recovery_target_action',
      'recovery_target_timeline',
    ])
      await c.query(`ALTER SYSTEM RESET ${s}`);
    await c.query('SELECT pg_reload_conf()');
  });
  await rm(join(server.root, 'wal-archive'), { recursive: true, force: true });
  await withClient(server.url(store.database), async (c) => {
    for (const [table, expected] of Object.entries(store.rowCounts)) {
      let actual: string;
      try {
        actual = (await c.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`)).rows[0]!.n;
      } catch (err) {
        throw fail(`table ${table} cannot be read (${(err as Error).message})`, err);
      }
      if (actual !== expected) throw fail(`table ${table} has ${actual} rows, the manifest says ${expected}`);
    }
  });
}
