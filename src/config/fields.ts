// Field types shared by the services' config schemas (src/config/services/),
// with messages that say what is expected, so an error reads
// "tunables.queuePool.max: must be at most 100 connections".

import { z } from 'zod';

export const ENVIRONMENTS = ['staging', 'prod'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A whole number in [min, max]; `unit` is appended to the bounds in messages ("ms", "connections"). */
export function wholeNumber(min: number, max: number, unit = '') {
  // "at least 1 connection", "at most 100 connections"; units like "ms" and "s" never change.
  const u = (n: number) =>
    unit === '' ? '' : ` ${n === 1 && unit.length > 2 && unit.endsWith('s') ? unit.slice(0, -1) : unit}`;
  return z
    .number({ error: `must be a number from ${min} to ${max}${u(max)}` })
    .int({ error: `must be a whole number from ${min} to ${max}${u(max)}` })
    .min(min, { error: `must be at least ${min}${u(min)}` })
    .max(max, { error: `must be at most ${max}${u(max)}` });
}

export const logLevel = z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` });

export const environmentName = z.enum(ENVIRONMENTS, {
  error: `must be one of ${ENVIRONMENTS.join(', ')}`,
});
