// manifest.json of a snapshot: what it holds, how it was taken, and what a
// restore must find. Readable without the key (sizes, checksums, row counts,
// never a secret), authenticated with it: `mac` is an HMAC-SHA256 over the
// rest of the manifest, so a changed checksum or row count is caught.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { fbError } from '../../errors/index.ts';
import type { SnapshotKeys } from './snapshotKey.ts';

export const MANIFEST_FILE = 'manifest.json';
export const FORMAT = 'firebreak-snapshot/1';

const Hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`));

export const PackEntry = z.object({
  /** ledger | queue | provider */
  role: z.enum(['ledger', 'queue', 'provider']),
  file: z.string().regex(/^[a-z]+\.fbpack$/),
  bytes: z.number().int().nonnegative(),
  sha256: Hex(64),
  iv: Hex(24),
  tag: Hex(32),
  entries: z.number().int().nonnegative(),
  plainBytes: z.number().int().nonnegative(),
});
export type PackEntry = z.infer<typeof PackEntry>;

export const StoreEntry = z.object({
  role: z.enum(['ledger', 'queue']),
  database: z.string(),
  /** The restore point the copy recovers to; the row counts were taken at exactly that point. */
  restorePoint: z.string(),
  backupStartLsn: z.string(),
  backupStopLsn: z.string(),
  walFiles: z.number().int().positive(),
  /** schema.table -> rows (decimal string) */
  rowCounts: z.record(z.string(), z.string().regex(/^[0-9]+$/)),
});
export type StoreEntry = z.infer<typeof StoreEntry>;

export const Manifest = z.object({
  format: z.literal(FORMAT),
  id: Hex(32),
  createdAt: z.string(),
  cipher: z.literal('aes-256-gcm'),
  keyCheck: Hex(64),
  consistency: z.string(),
  source: z.object({ environment: z.string(), stateDir: z.string(), postgres: z.string() }),
  stores: z.array(StoreEntry),
  packs: z.array(PackEntry),
  timings: z.record(z.string(), z.number()),
  mac: Hex(64),
});
export type Manifest = z.infer<typeof Manifest>;

/** JSON with object keys sorted at every level: the same bytes however the object was built. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** The bytes the MAC covers: the manifest without `mac`, canonical. */
function macInput(m: Omit<Manifest, 'mac'>): string {
  const rest: Record<string, unknown> = { ...m };
  delete rest.mac;
  return canonical(rest);
}

export function signManifest(m: Omit<Manifest, 'mac'>, keys: SnapshotKeys): Manifest {
  return { ...m, mac: createHmac('sha256', keys.mac).update(macInput(m)).digest('hex') };
}

export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(m, null, 2)}\n`, { mode: 0o644 });
}

/** Reads and parses manifest.json (not yet authenticated: see authenticateManifest). */
export async function readManifest(dir: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch (err) {
    throw fbError(
      'FB_SNAPSHOT_INVALID',
      `${dir} is not a Firebreak snapshot: ${MANIFEST_FILE} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`,
      { cause: err },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw fbError(
      'FB_SNAPSHOT_CORRUPT',
      `${MANIFEST_FILE} in ${dir} is not valid JSON. Nothing was restored.`,
      {
        cause: err,
      },
    );
  }
  if ((json as { format?: unknown } | null)?.format !== FORMAT)
    throw fbError(
      'FB_SNAPSHOT_INVALID',
      `${dir} is not a ${FORMAT} snapshot (format ${JSON.stringify((json as { format?: unknown } | null)?.format)}).`,
    );
  const parsed = Manifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw fbError(
      'FB_SNAPSHOT_CORRUPT',
      `${MANIFEST_FILE} in ${dir} is malformed (${issue?.path.join('.')}: ${issue?.message}). Nothing was restored.`,
    );
  }
  return parsed.data;
}

/** Refuses a wrong key (key check) and a changed manifest (MAC). */
export function authenticateManifest(m: Manifest, keys: SnapshotKeys): void {
  if (!timingSafeEqual(Buffer.from(m.keyCheck, 'hex'), Buffer.from(keys.check, 'hex')))
    throw fbError(
      'FB_SNAPSHOT_WRONG_KEY',
      `the key does not open snapshot ${m.id} (taken ${m.createdAt}): it was written with another key. Nothing was restored.`,
    );
  const expected = createHmac('sha256', keys.mac).update(macInput(m)).digest();
  if (!timingSafeEqual(Buffer.from(m.mac, 'hex'), expected))
    throw fbError(
      'FB_SNAPSHOT_CORRUPT',
      `${MANIFEST_FILE} of snapshot ${m.id} was changed after it was written (its MAC does not match). Nothing was restored.`,
    );
}
