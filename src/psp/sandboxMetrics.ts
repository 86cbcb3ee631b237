// The sandbox's counters, on a registry of its own so that several sandboxes
// (or a sandbox and a service) in one test process never collide on names.

import { Counter, Registry } from 'prom-client';

export interface SandboxMetrics {
  readonly registry: Registry;
  /** New results recorded with status 'captured'. */
  readonly captures: Counter;
  /** New results recorded with status 'declined'. */
  readonly declines: Counter;
  /** Requests answered with a recorded result again. */
  readonly replays: Counter;
  /** Error responses, by PSP_* code. */
  readonly errors: Counter<'code'>;
  /** Injected faults that fired, by kind. */
  readonly faults: Counter<'fault'>;
}

export function createSandboxMetrics(): SandboxMetrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    captures: new Counter({ name: 'psp_captures_total', help: 'Captures recorded', registers }),
    declines: new Counter({ name: 'psp_declines_total', help: 'Declines recorded', registers }),
    replays: new Counter({ name: 'psp_replays_total', help: 'Idempotent replays answered', registers }),
    errors: new Counter({
      name: 'psp_errors_total',
      help: 'Error responses by code',
      labelNames: ['code'],
      registers,
    }),
    faults: new Counter({
      name: 'psp_injected_faults_total',
      help: 'Injected faults that fired (error_before_capture, error_after_capture, outage)',
      labelNames: ['fault'],
      registers,
    }),
  };
}
