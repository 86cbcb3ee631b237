// The snapshot key: 32 random bytes the operator keeps (a key file, or the
// FIREBREAK_SNAPSHOT_KEY environment variable), never written next to a
// snapshot. Each snapshot derives its own keys from it with HKDF-SHA256 and
// the snapshot's random id as salt:
// - enc: AES-256-GCM key for the snapshot's files;
// - mac: HMAC-SHA256 key that authenticates the manifest;
// - check: a key-check value stored in the manifest, so a wrong key is named
//   as such before anything is decrypted (it reveals nothing usable about a
//   256-bit key).

import { createHmac, hkdfSync } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { fbError } from '../../errors/index.ts';

export const KEY_ENV = 'FIREBREAK_SNAPSHOT_KEY';

export interface SnapshotKeys {
  readonly enc: Buffer;
  readonly mac: Buffer;
  readonly check: string;
}

const HEX = /^[0-9a-fA-F]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]{43}=$/;

/** Parses a key's text: 64 hex characters or standard base64 of 32 bytes. */
export function parseKey(text: string, from: string): Buffer {
  const t = text.trim();
  if (HEX.test(t)) return Buffer.from(t, 'hex');
  if (BASE64.test(t)) return Buffer.from(t, 'base64');
  throw fbError(
    'FB_SNAPSHOT_KEY_INVALID',
    `${from} must hold a 32-byte key as 64 hex characters or 44 base64 characters (make one with "openssl rand -hex 32").`,
  );
}

/** The master key from --key-file, else from FIREBREAK_SNAPSHOT_KEY. */
export async function loadKey(
  keyFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Buffer> {
  if (keyFile !== undefined) {
    let text: string;
    try {
      if (!(await stat(keyFile)).isFile()) throw new Error('not a file');
      text = await readFile(keyFile, 'utf8');
    } catch (err) {
      throw fbError(
        'FB_SNAPSHOT_KEY_INVALID',
        `--key-file ${keyFile} cannot be read: ${(err as Error).message}.`,
        {
          cause: err,
          field: '--key-file',
        },
      );
    }
    return parseKey(text, `--key-file ${keyFile}`);
  }
  const value = env[KEY_ENV];
  if (value === undefined || value === '')
    throw fbError(
      'FB_SNAPSHOT_KEY_INVALID',
      `no snapshot key: pass --key-file PATH or set ${KEY_ENV} (32 bytes as hex; make one with "openssl rand -hex 32").`,
    );
  return parseKey(value, KEY_ENV);
}

export function deriveKeys(master: Buffer, snapshotId: string): SnapshotKeys {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', master, Buffer.from(snapshotId), info, 32));
  const check = createHmac('sha256', derive('firebreak-snapshot/check')).update('key-check').digest('hex');
  return { enc: derive('firebreak-snapshot/enc'), mac: derive('firebreak-snapshot/mac'), check };
}
