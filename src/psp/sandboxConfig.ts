// The sandbox process's configuration, from its environment, validated once
// at start with an error that names the variable at fault.

import { z } from 'zod';
import { MAX_LATENCY_MS } from './faults.ts';

// Rates are probabilities, not money: any number JavaScript reads (String(1e-7) included) will do.
const rate = z
  .string()
  .refine(
    (s) => /^[0-9.eE+-]+$/.test(s) && Number(s) >= 0 && Number(s) <= 1,
    'must be a number between 0 and 1',
  )
  .transform(Number);

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, 'must be a non-negative integer')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be between ${min} and ${max}`);

export const SandboxEnvSchema = z.object({
  PSP_PORT: integer(0, 65535).default(0),
  PSP_HOST: z.string().min(1).default('127.0.0.1'),
  PSP_DATA_DIR: z.string({ error: 'is required: the directory holding captures.jsonl' }),
  PSP_SEED: z.string().min(1).optional(),
  PSP_CONTROL_KEY: z.string().min(8, 'must be at least 8 characters').optional(),
  PSP_DECLINE_RATE: rate.default(0),
  PSP_ERROR_RATE: rate.default(0),
  PSP_ERROR_AFTER_CAPTURE_RATE: rate.default(0),
  PSP_LATENCY_MS: integer(0, MAX_LATENCY_MS).default(0),
  PSP_OUTAGE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  PSP_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type SandboxEnv = z.output<typeof SandboxEnvSchema>;

export type SandboxEnvResult = { ok: true; env: SandboxEnv } | { ok: false; message: string };

export function parseSandboxEnv(env: NodeJS.ProcessEnv): SandboxEnvResult {
  // An empty variable is an unset one (a common shell accident: PSP_SEED= ).
  const present = Object.fromEntries(
    Object.entries(env).filter(([name, value]) => name.startsWith('PSP_') && value !== ''),
  );
  const parsed = SandboxEnvSchema.safeParse(present);
  if (parsed.success) return { ok: true, env: parsed.data };
  const message = parsed.error.issues.map((i) => `${i.path.map(String).join('.')} ${i.message}`).join('; ');
  return { ok: false, message: `invalid sandbox configuration: ${message}` };
}
