// Options are validated once, at construction, with a schema; the error names
// the key at fault and why (FB_CONFIG_INVALID).

import type { z } from 'zod';
import { fbError } from '../errors/index.ts';

export function parseOrThrow<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') || '(value)';
  throw fbError('FB_CONFIG_INVALID', `${what}: ${field} ${issue?.message ?? 'is invalid'}`, {
    field,
    cause: parsed.error,
  });
}

/** For a method's arguments: a caller's bug, not configuration, so a plain RangeError. */
export function parseArgument<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') || '';
  throw new RangeError(`${what}${field ? `.${field}` : ''}: ${issue?.message ?? 'is invalid'}`, {
    cause: parsed.error,
  });
}
