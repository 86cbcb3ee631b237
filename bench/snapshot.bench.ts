// Snapshot and restore time for a 1 GB ledger (issue 5: restore under 60 s
// on this machine; the write-ups' bar was 5 minutes):
//
//   node bench/snapshot.bench.ts [--gb 1] [--no-standby]
//
// Brings up a real `firebreak up` stack (ledger primary + synchronous
// standby, queue, services), grows the ledger database to --gb gigabytes with
// generate_series (a ballast table beside the real ones, plus a few real
// checkouts), then times `firebreak snapshot` (online: the stack keeps
// running) and `firebreak restore` (checksums, decryption, recovery to the
// restore point, row-count verification, a standby cloned from the restored
// primary, all services up). Prints the figures; asserts nothing.

import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { takeSnapshot } from '../src/stack/snapshot/takeSnapshot.ts';
import { stackDown, stackRestore, stackUp } from '../src/stack/stackControl.ts';
import { readState } from '../src/stack/stackState.ts';

const { values } = parseArgs({
  options: { gb: { type: 'string', default: '1' }, 'no-standby': { type: 'boolean', default: false } },
});
const GB = Number(values.gb);
if (!Number.isFinite(GB) || GB <= 0 || GB > 50) {
  process.stderr.write('FB_USAGE: --gb must be a number of gigabytes between 0 and 50\n');
  process.exit(2);
}
const standby = !values['no-standby'];
const log = (m: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Grows the ledger database to `bytes` with ~250-byte rows, 1M rows per statement. */
async function fillLedger(
  url: string,
  bytes: number,
): Promise<{ rows: number; dbBytes: number; ms: number }> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  const t0 = performance.now();
  try {
    await client.query(
      'CREATE TABLE bench_ballast (id bigint NOT NULL, created_at timestamptz NOT NULL, payload text NOT NULL)',
    );
    let rows = 0;
    for (;;) {
      const size = Number(
        (await client.query<{ n: string }>('SELECT pg_database_size(current_database())::text AS n')).rows[0]!
          .n,
      );
      if (size >= bytes) return { rows, dbBytes: size, ms: performance.now() - t0 };
      await client.query(
        `INSERT INTO bench_ballast SELECT g, now(), repeat(md5(g::text), 6) FROM generate_series($1::bigint, $2::bigint) g`,
        [rows + 1, rows + 1_000_000],
      );
      rows += 1_000_000;
      log(`ballast: ${rows.toLocaleString()} rows, database ${(size / 1e9).toFixed(2)} GB`);
    }
  } finally {
    await client.end();
  }
}

const base = await mkdtemp(join(tmpdir(), 'firebreak-snapshot-bench-'));
await chmod(base, 0o755);
const sourceDir = join(base, 'source');
const restoredDir = join(base, 'restored');
const snapDir = join(base, 'snapshot');
const key = randomBytes(32);
try {
  log(`bringing up the stack (ledger standby: ${standby})`);
  const source = await stackUp({ stateDir: sourceDir, eventBus: 'file', ledgerStandby: standby });
  const fill = await fillLedger(source.urls.ledgerDirect!, GB * 1e9);
  log(`ledger filled: ${(fill.dbBytes / 1e9).toFixed(2)} GB in ${sec(fill.ms)}`);

  const t0 = performance.now();
  const { manifest } = await takeSnapshot({
    state: (await readState(sourceDir))!,
    outDir: snapDir,
    key,
    onProgress: log,
  });
  const snapshotMs = performance.now() - t0;
  const snapBytes = manifest.packs.reduce((n, p) => n + p.bytes, 0);
  log(`snapshot: ${sec(snapshotMs)}, ${(snapBytes / 1e9).toFixed(2)} GB`);
  await stackDown(sourceDir);

  const r = await stackRestore({ stateDir: restoredDir, snapshotDir: snapDir, key, onProgress: log });
  log(`restore: ${sec(r.timings.totalMs!)}`);
  await stackDown(restoredDir);

  const ledgerStore = manifest.stores.find((s) => s.role === 'ledger')!;
  const figures = {
    ledgerDatabaseBytes: fill.dbBytes,
    ballastRows: Number(ledgerStore.rowCounts['public.bench_ballast']),
    standby,
    snapshotMs: Math.round(snapshotMs),
    snapshotBytes: snapBytes,
    snapshotPhasesMs: manifest.timings,
    restoreMs: r.timings.totalMs,
    restorePhasesMs: r.timings,
  };
  process.stdout.write(
    [
      `ledger database              ${(fill.dbBytes / 1e9).toFixed(2)} GB (${figures.ballastRows.toLocaleString()} ballast rows)`,
      `snapshot (online)            ${sec(snapshotMs)}  -> ${(snapBytes / 1e9).toFixed(2)} GB encrypted`,
      `  queue / ledger / provider  ${sec(manifest.timings.queueMs!)} / ${sec(manifest.timings.ledgerMs!)} / ${sec(manifest.timings.providerMs!)}`,
      `restore (fresh stack, verified)  ${sec(r.timings.totalMs!)}  (target: under 60 s)`,
      `  checksums                  ${sec(r.timings.checksumMs!)}`,
      `  decrypt + lay out          ${sec(r.timings.decryptMs!)}`,
      `  recover, verify row counts, clone standby, start services  ${sec(r.timings.startAndVerifyMs!)}`,
      JSON.stringify(figures),
      '',
    ].join('\n'),
  );
} finally {
  await stackDown(sourceDir).catch(() => {});
  await stackDown(restoredDir).catch(() => {});
  await rm(base, { recursive: true, force: true });
}
