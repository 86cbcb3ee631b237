// Process configuration from environment variables, validated once at start
// with an error that names each variable at fault. When FIREBREAK_CONFIG
// names the service's namespace file (config/<service>/<env>.yaml), the file
// is layered on first (src/config/layer.ts), so a value from the file meets
// the same validation as one from the environment.

import { z } from 'zod';
import { fbError } from '../errors/index.ts';
import { layerServiceConfig } from './layer.ts';
import { isServiceName } from './services/index.ts';

/** Parses the variables a schema names; an empty string counts as unset. */
export function parseEnv<S extends z.ZodObject>(
  schema: S,
  env: NodeJS.ProcessEnv,
  service: string,
): z.output<S> {
  const layered = isServiceName(service) ? layerServiceConfig(service, env).env : env;
  const present = Object.fromEntries(Object.entries(layered).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ');
  throw fbError('FB_CONFIG_INVALID', `${service}: invalid configuration: ${problems}`);
}

export const envInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, 'must be a non-negative integer')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be between ${min} and ${max}`);

export const envUrl = z.string().url('must be a URL');
