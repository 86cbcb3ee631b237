// The API process's configuration, from the environment, validated once at
// start. A wrong value stops the process with one line naming the variable
// and saying what it should be, before anything is opened.

import { z } from 'zod';
import { fbError } from '../errors/index.ts';

const port = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a port number from 0 to 65535 (0 picks a free port)` })
    .int({ error: `${name} must be a whole port number from 0 to 65535` })
    .min(0, { error: `${name} must be from 0 to 65535` })
    .max(65_535, { error: `${name} must be from 0 to 65535` });

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const ApiConfigSchema = z.object({
  API_HOST: z
    .string()
    .min(1, { error: 'API_HOST must be a host or IP address to listen on, e.g. 127.0.0.1' })
    .default('127.0.0.1'),
  API_PORT: port('API_PORT').default(0),
  API_ADMIN_PORT: port('API_ADMIN_PORT').default(0),
  QUEUE_DATABASE_URL: z
    .string({ error: 'QUEUE_DATABASE_URL is required: the Postgres URL of the payment queue database' })
    .regex(/^postgres(ql)?:\/\/\S+$/, {
      error: 'QUEUE_DATABASE_URL must be a postgres:// URL of the payment queue database',
    }),
  CATALOG_PATH: z
    .string({ error: 'CATALOG_PATH is required: the path of the catalog JSON file' })
    .min(1, { error: 'CATALOG_PATH must be the path of the catalog JSON file' }),
  ADMIN_KEY_SHA256: z
    .string({ error: 'ADMIN_KEY_SHA256 is required: the sha256 hex digest of the admin key' })
    .regex(/^[0-9a-f]{64}$/, {
      error:
        'ADMIN_KEY_SHA256 must be the lowercase hex sha256 digest (64 characters) of the admin key, not the key',
    }),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { error: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` })
    .default('info'),
});

export type ApiConfig = z.infer<typeof ApiConfigSchema>;

/** Parses the API's environment; throws FB_CONFIG_INVALID naming every wrong variable. */
export function parseApiConfig(env: Readonly<Record<string, string | undefined>>): ApiConfig {
  // Empty strings count as unset, as in most shells' `VAR= cmd`.
  const present = Object.fromEntries(
    Object.keys(ApiConfigSchema.shape).flatMap((key) => {
      const value = env[key];
      return value === undefined || value === '' ? [] : [[key, value]];
    }),
  );
  const parsed = ApiConfigSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => issue.message);
    throw fbError('FB_CONFIG_INVALID', `invalid API configuration: ${problems.join('; ')}`, {
      field: String(parsed.error.issues[0]?.path[0] ?? ''),
    });
  }
  return parsed.data;
}
