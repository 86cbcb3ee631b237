// The headers the checkout API insists on: who is calling (a bearer API key,
// looked up by its sha256 digest) and which attempt this is (Idempotency-Key).

import { createHash, timingSafeEqual } from 'node:crypto';
import type { CatalogIndex, Creator } from '../catalog/index.ts';
import { fbError } from '../errors/index.ts';

export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;

// Printable ASCII, no leading or trailing space: HTTP strips surrounding
// whitespace on the wire, so a key with it would name a different checkout
// depending on the path the request took.
const IDEMPOTENCY_KEY = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
const BEARER = /^Bearer +([^\s]+) *$/i;

type HeaderValue = string | string[] | undefined;

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: HeaderValue): string | undefined {
  if (typeof header !== 'string') return undefined;
  return BEARER.exec(header)?.[1];
}

function unauthenticated(what: string) {
  return fbError('FB_UNAUTHENTICATED', `${what} Send "Authorization: Bearer <your API key>".`, {
    field: 'header.authorization',
  });
}

/** The creator whose API key the request carries; throws FB_UNAUTHENTICATED otherwise. */
export function authenticateCreator(header: HeaderValue, catalog: CatalogIndex): Creator {
  const token = bearerToken(header);
  if (token === undefined) {
    throw unauthenticated(
      header === undefined
        ? 'The Authorization header is missing.'
        : 'The Authorization header is malformed.',
    );
  }
  const creator = catalog.creatorForApiKey(token);
  if (creator === undefined) throw unauthenticated('The API key is not recognised.');
  return creator;
}

/** The Idempotency-Key header, validated; throws FB_IDEMPOTENCY_KEY_MISSING or _INVALID. */
export function idempotencyKeyOf(header: HeaderValue): string {
  const field = 'header.idempotency-key';
  if (header === undefined) {
    throw fbError(
      'FB_IDEMPOTENCY_KEY_MISSING',
      'The Idempotency-Key header is required: send a unique key per checkout (e.g. a UUID) and reuse it when you retry.',
      { field },
    );
  }
  if (
    typeof header !== 'string' ||
    header.length > IDEMPOTENCY_KEY_MAX_LENGTH ||
    !IDEMPOTENCY_KEY.test(header)
  ) {
    throw fbError(
      'FB_IDEMPOTENCY_KEY_INVALID',
      `The Idempotency-Key header must be 1 to ${IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters (a UUID works), sent once.`,
      { field },
    );
  }
  return header;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Checks a bearer token against the admin key's sha256 digest in constant
 * time. Returns 'admin', 'creator' (a valid creator API key: authenticated,
 * but not allowed) or 'none'.
 */
export function adminCaller(
  header: HeaderValue,
  adminKeySha256: string,
  catalog: CatalogIndex | undefined,
): 'admin' | 'creator' | 'none' {
  if (!SHA256_HEX.test(adminKeySha256))
    throw new TypeError('adminKeySha256 must be a lowercase hex sha256 digest');
  const token = bearerToken(header);
  if (token === undefined) return 'none';
  const digest = createHash('sha256').update(token).digest();
  if (timingSafeEqual(digest, Buffer.from(adminKeySha256, 'hex'))) return 'admin';
  return catalog?.creatorForApiKey(token) === undefined ? 'none' : 'creator';
}
