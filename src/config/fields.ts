// Field types shared by the services' config schemas (src/config/services/),
// with messages that say what is expected, so an error reads
// "tunables.queuePool.max: must be at most 100 connections".

import { z } from 'zod';

export const ENVIRONMENTS = ['staging', 'prod'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A whole number in [min, max]; `unit` is appended to the bounds in messages ("ms", "connections"). */
export function wholeNumber(min: number, max: number, unit = '') {
  const u = unit ? ` ${unit}` : '';
  return z
    .number({ error: `must be a number from ${min} to ${max}${u}` })
    .int({ error: `must be a whole number from ${min} to ${max}${u}` })
    .min(min, { error: `must be at least ${min}${u}` })
    .max(max, { error: `must be at most ${max}${u}` });
}

export const logLevel = z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` });

export const environmentName = z.enum(ENVIRONMENTS, {
  error: `must be one of ${ENVIRONMENTS.join(', ')}`,
});
