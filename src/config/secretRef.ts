// Secrets in a config namespace are references, never values: a file under
// config/ is read by everyone who can read the repository, and a value once
// committed lives in its history for good. A secret field takes
// `{ secretRef: env:NAME }` (the process's environment) or
// `{ secretRef: file:/abs/path }` (a mounted secret, re-read on every reload so
// a rotated secret is picked up). Anything else in a secret field, and any
// string anywhere that looks like a credential, is refused by validation.

import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { fbError } from '../errors/index.ts';

export interface SecretRef {
  readonly secretRef: string;
}

const REF_PATTERN = /^(env:[A-Z_][A-Z0-9_]*|file:\/\S+)$/;
const REF_HELP = 'a reference like { secretRef: env:NAME } or { secretRef: file:/abs/path }';

/**
 * Why a string looks like a credential, or null. Deliberately cheap and
 * conservative: it catches the values people actually paste (database URLs with
 * a password, our own key formats, cloud keys, private keys, long hex or
 * base64 blobs), not every possible secret.
 */
export function looksLikeSecret(value: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i.test(value)) return 'a URL with a password in it';
  if (/^(fbk|fba|ctl)_/.test(value)) return 'a Firebreak API, admin or control key';
  if (/^(sk|rk)_(live|test)_/.test(value)) return 'a payment provider secret key';
  if (/^(AKIA|ASIA)[A-Z0-9]{16}$/.test(value)) return 'an AWS access key id';
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) return 'a private key';
  if (/^[0-9a-f]{32,}$/i.test(value)) return 'a long hex string (a key or a digest)';
  if (/^[A-Za-z0-9+/_-]{40,}={0,2}$/.test(value) && /[0-9]/.test(value) && /[a-z]/.test(value))
    return 'a long base64 string (a token)';
  return null;
}

function refIssue(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number') {
    const why = looksLikeSecret(String(value));
    return (
      `is a secret: give ${REF_HELP}, never the value itself` +
      (why ? ` (this looks like ${why}: treat it as leaked and rotate it)` : '')
    );
  }
  return `must be ${REF_HELP}`;
}

/** A field that holds a secret: only a reference is accepted. */
export const secretField = z.unknown().transform((value, ctx): SecretRef => {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const ref = (value as { secretRef?: unknown }).secretRef;
    if (keys.length === 1 && typeof ref === 'string') {
      if (REF_PATTERN.test(ref)) return { secretRef: ref };
      const why = looksLikeSecret(ref);
      ctx.addIssue({
        code: 'custom',
        path: ['secretRef'],
        message: why
          ? `is a secret value, not a reference (it looks like ${why}: treat it as leaked and rotate it); use env:NAME or file:/abs/path`
          : 'must be env:NAME (an upper-case environment variable) or file:/abs/path',
      });
      return z.NEVER;
    }
  }
  ctx.addIssue({ code: 'custom', message: refIssue(value) });
  return z.NEVER;
});

/**
 * A field naming where something is (a file path, a broker list, a URL
 * without credentials): a literal is fine, a reference too. A literal that
 * looks like a credential is refused, like in a secret field.
 */
export const locationField = z.unknown().transform((value, ctx): string | SecretRef => {
  if (typeof value === 'string') {
    const why = looksLikeSecret(value);
    if (!why && value.trim() !== '') return value;
    ctx.addIssue({
      code: 'custom',
      message: why
        ? `holds what looks like ${why}: put credentials behind ${REF_HELP} (and rotate this one)`
        : 'must not be empty',
    });
    return z.NEVER;
  }
  const parsed = secretField.safeParse(value);
  if (parsed.success) return parsed.data;
  ctx.addIssue({ code: 'custom', message: `must be a string or ${REF_HELP}` });
  return z.NEVER;
});

export function isSecretRef(value: unknown): value is SecretRef {
  return typeof value === 'object' && value !== null && 'secretRef' in value;
}

/**
 * Resolves a reference. env: reads the given environment; file: reads the
 * file (trailing newline trimmed). Throws FB_CONFIG_INVALID naming the key and
 * what is missing; never includes the value.
 */
export function resolveSecretRef(
  ref: SecretRef,
  env: Readonly<Record<string, string | undefined>>,
  keyPath: string,
): string {
  const [kind, ...rest] = ref.secretRef.split(':');
  const target = rest.join(':');
  if (kind === 'env') {
    const value = env[target];
    if (value === undefined || value === '')
      throw fbError(
        'FB_CONFIG_INVALID',
        `${keyPath}: secretRef env:${target} is not set in the environment; set ${target} or change the reference`,
        { field: keyPath },
      );
    return value;
  }
  if (!isAbsolute(target))
    throw fbError('FB_CONFIG_INVALID', `${keyPath}: secretRef file: needs an absolute path`, {
      field: keyPath,
    });
  try {
    const value = readFileSync(target, 'utf8').replace(/\r?\n$/, '');
    if (value === '') throw new Error('the file is empty');
    return value;
  } catch (err) {
    throw fbError(
      'FB_CONFIG_INVALID',
      `${keyPath}: secretRef file:${target} cannot be read (${(err as Error).message})`,
      { field: keyPath, cause: err },
    );
  }
}
