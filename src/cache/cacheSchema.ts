// What a cached value is: a named schema with an integer version, a zod schema
// for its payload, and optionally the previous version's payload schema with
// an upgrade to the current one.
//
// Readers accept exactly the current and the previous version, so a rollout
// is "readers first, then writers" (docs/guardrails.md): ship readers of
// version N (which still understand N-1), and only once every reader runs
// them, ship the writers of N. Anything older or newer is a counted miss.

import type { z } from 'zod';
import { assertCacheName } from './cacheKey.ts';

export interface PreviousVersion<T> {
  readonly payload: z.ZodType<unknown>;
  /** Turns a valid previous-version payload into the current shape. */
  readonly upgrade: (previous: unknown) => T;
}

export interface CacheSchema<T> {
  readonly name: string;
  readonly version: number;
  /** Validates the current payload; it must accept exactly what writers write. */
  readonly payload: z.ZodType<T>;
  /** Version `version - 1`, still accepted by readers. */
  readonly previous?: PreviousVersion<T>;
}

export interface CacheSchemaDefinition<T, P> {
  readonly name: string;
  readonly version: number;
  readonly payload: z.ZodType<T>;
  readonly previous?: { readonly payload: z.ZodType<P>; readonly upgrade: (previous: P) => T };
}

/** Checks a schema definition once, at construction, and erases the previous payload's type. */
export function defineCacheSchema<T, P = never>(definition: CacheSchemaDefinition<T, P>): CacheSchema<T> {
  assertCacheName('cache schema', definition.name);
  if (!Number.isSafeInteger(definition.version) || definition.version < 1)
    throw new TypeError(`cache schema ${definition.name}: version must be a positive integer`);
  if (definition.previous && definition.version < 2)
    throw new TypeError(`cache schema ${definition.name}: version 1 has no previous version`);
  const previous = definition.previous;
  return {
    name: definition.name,
    version: definition.version,
    payload: definition.payload,
    ...(previous
      ? {
          previous: {
            payload: previous.payload,
            // Only ever called with what previous.payload accepted.
            upgrade: (value: unknown) => previous.upgrade(value as P),
          },
        }
      : {}),
  };
}
