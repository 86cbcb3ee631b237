// Checkout ids are derived, not generated: the same (creator, Idempotency-Key)
// always names the same checkout, in this process, after a restart and on
// another API replica. That is what makes a client retry after a timeout safe:
// the queue dedups on this id and the provider charges with it as its key.
//
// The derivation is a name-based UUID version 5 (RFC 9562 §5.5): sha1 over a
// fixed Firebreak namespace followed by the name `${creatorId}\n${idempotencyKey}`.
// The newline cannot appear in either part (a UUID has none; the key is
// printable ASCII), so two different pairs never produce the same name.

import { createHash } from 'node:crypto';

/** Firebreak's namespace for checkout ids. Never change it: every stored id depends on it. */
export const CHECKOUT_ID_NAMESPACE = '5f1b9c2e-8d47-4a6b-9e3c-2a71d0f4b8c6';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function uuidBytes(uuid: string): Buffer {
  if (!UUID_PATTERN.test(uuid)) throw new TypeError(`"${uuid}" is not a UUID`);
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

function formatUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** A version-5 UUID for `name` in `namespace`, lowercase. */
export function uuidV5(namespace: string, name: string): string {
  const digest = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest();
  const bytes = digest.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50; // version 5
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  return formatUuid(bytes);
}

/** The checkout id for an idempotency key of a creator. `creatorId` is normalised to lowercase. */
export function checkoutIdFor(creatorId: string, idempotencyKey: string): string {
  return uuidV5(CHECKOUT_ID_NAMESPACE, `${creatorId.toLowerCase()}\n${idempotencyKey}`);
}
