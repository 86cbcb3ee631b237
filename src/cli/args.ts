// Flag parsing for the CLI: node:util parseArgs in strict mode (unknown flags
// are errors), then zod for ranges, so every bad flag gets FB_USAGE and a
// message that names it.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { fbError } from '../errors/index.ts';

export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw fbError(
      'FB_USAGE',
      `firebreak ${command}: ${(err as Error).message}. Run "firebreak help" for the flags.`,
      {
        cause: err,
      },
    );
  }
}

/** Validates one flag's value with a schema; the error names the flag. */
export function flag<S extends z.ZodType>(name: string, schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues[0]?.message ?? 'invalid value';
  const got = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  throw fbError('FB_USAGE', `--${name}: ${message}${got}`, { field: `--${name}` });
}

export const intFlag = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, 'must be a whole number')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be between ${min} and ${max}`);

export const rateFlag = z
  .string()
  .regex(/^(0(\.[0-9]+)?|1(\.0+)?)$/, 'must be a decimal between 0 and 1')
  .transform(Number);
