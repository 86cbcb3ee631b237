// The bytes of a cache entry: one header line, then the payload as JSON.
//
//   FBC1 <schema> <version> <sha256 hex>\n<payload JSON>
//
// The magic `FBC1 ` tells an entry of ours from anything another serializer
// left under the key (msgpack, Java serialization, Avro, a bare string) in
// five bytes, before any parsing. The sha256 covers the schema name, the
// version and the payload, so a flipped bit, a truncated write or a header
// glued onto another payload is caught before the payload is trusted. The
// payload is then checked against the version's zod schema.
//
// decodeEnvelope never throws: every way an entry can be unusable is a
// MissReason, which the cache counts and answers by deleting the entry and
// reading the database (through the guard). A negative entry ("no such id")
// is the payload `null`.

import { createHash } from 'node:crypto';
import type { CacheSchema } from './cacheSchema.ts';

const MAGIC = Buffer.from('FBC1 ', 'latin1');
/** A header is ~90 bytes; anything longer without a newline is not ours. */
const MAX_HEADER_BYTES = 200;
const HEADER = /^FBC1 ([a-z][a-z0-9-]{0,31}) ([1-9][0-9]{0,8}) ([0-9a-f]{64})$/;
const NEWLINE = 0x0a;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Why an entry was not used. `absent` is a plain miss; the others are poison and get deleted. */
export const MISS_REASONS = [
  'absent',
  /** Not our envelope at all: another serializer, a bare string, random bytes. */
  'foreign_format',
  /** Our magic, but the header line is unreadable. */
  'corrupt_envelope',
  /** An envelope of another schema under this key. */
  'wrong_schema',
  /** A version this reader does not accept (older than previous, or newer than current). */
  'unknown_version',
  'checksum_mismatch',
  /** The checksum holds but the payload is not UTF-8 JSON that the version's schema accepts. */
  'invalid_payload',
  /** Redis did not answer (down, timed out, refused): nothing was read. */
  'redis_error',
] as const;
export type MissReason = (typeof MISS_REASONS)[number];
export type PoisonReason = Exclude<MissReason, 'absent' | 'redis_error'>;

export type Decoded<T> =
  | { readonly ok: true; readonly value: T | null; readonly version: number }
  | { readonly ok: false; readonly reason: Exclude<MissReason, 'redis_error'> };

function checksum(schema: string, version: number, payload: Buffer): string {
  return createHash('sha256').update(`${schema} ${version}\n`).update(payload).digest('hex');
}

/** The envelope of a value (or of `null`, a negative entry) at an explicit version. */
export function encodeEnvelopeAt(schema: string, version: number, value: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(value), 'utf8');
  const header = `FBC1 ${schema} ${version} ${checksum(schema, version, payload)}\n`;
  return Buffer.concat([Buffer.from(header, 'latin1'), payload]);
}

/**
 * The envelope of a current-version value. The value is validated first: a
 * writer must never store what its own readers would reject. Throws on an
 * invalid value (a bug in the loader, surfaced where it happens).
 */
export function encodeEnvelope<T>(schema: CacheSchema<T>, value: T | null): Buffer {
  const checked = value === null ? null : schema.payload.parse(value);
  return encodeEnvelopeAt(schema.name, schema.version, checked);
}

function poison(reason: PoisonReason): Decoded<never> {
  return { ok: false, reason };
}

/** Reads an entry as `schema` would; never throws. */
export function decodeEnvelope<T>(schema: CacheSchema<T>, raw: Buffer | null | undefined): Decoded<T> {
  if (raw === null || raw === undefined) return { ok: false, reason: 'absent' };
  if (raw.length < MAGIC.length || !raw.subarray(0, MAGIC.length).equals(MAGIC))
    return poison('foreign_format');
  const newline = raw.indexOf(NEWLINE, 0);
  if (newline < 0 || newline > MAX_HEADER_BYTES) return poison('corrupt_envelope');
  const header = HEADER.exec(raw.toString('latin1', 0, newline));
  if (!header) return poison('corrupt_envelope');
  const [, name, versionText, sum] = header as unknown as [string, string, string, string];
  if (name !== schema.name) return poison('wrong_schema');
  const version = Number(versionText);
  const accepted =
    version === schema.version
      ? schema.payload
      : schema.previous && version === schema.version - 1
        ? schema.previous.payload
        : undefined;
  if (accepted === undefined) return poison('unknown_version');
  const payload = raw.subarray(newline + 1);
  if (checksum(name, version, payload) !== sum) return poison('checksum_mismatch');
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(payload));
  } catch {
    return poison('invalid_payload');
  }
  if (json === null) return { ok: true, value: null, version };
  const parsed = accepted.safeParse(json);
  if (!parsed.success) return poison('invalid_payload');
  if (version === schema.version) return { ok: true, value: parsed.data as T, version };
  let upgraded: unknown;
  try {
    upgraded = schema.previous!.upgrade(parsed.data);
  } catch {
    // An upgrade that cannot handle a value its own schema accepted: the entry is unusable.
    return poison('invalid_payload');
  }
  const current = schema.payload.safeParse(upgraded);
  return current.success ? { ok: true, value: current.data, version } : poison('invalid_payload');
}
