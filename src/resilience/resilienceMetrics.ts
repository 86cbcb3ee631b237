// The metrics every outbound policy reports, per dependency, and the one
// place a breaker's state is wired to gauges and the log (the worker used to
// do it inline). Several policies share a process's registry, so the metrics
// are fetched from it when a policy already registered them.
//
//   firebreak_outbound_requests_total{dependency}         calls made (first attempts)
//   firebreak_outbound_retries_total{dependency}          retries made
//   firebreak_outbound_retries_refused_total{dependency}  retries the retry budget refused
//   firebreak_outbound_breaker_state{dependency}          0 closed, 1 open, 2 half-open, 3 isolated
//
// retries / requests is the share of traffic that is retries: it stays under
// the budget's ratio (plus its floor) by construction; refused > 0 means the
// dependency is failing more than the budget absorbs.

import { CircuitState, type CircuitBreakerPolicy, type IDisposable } from 'cockatiel';
import { Counter, Gauge, type Registry } from 'prom-client';

export interface OutboundMetrics {
  readonly requests: Counter<'dependency'>;
  readonly retries: Counter<'dependency'>;
  readonly refused: Counter<'dependency'>;
  readonly breakerState: Gauge<'dependency'>;
}

/** What a breaker's state changes are logged with (a pino Logger fits). */
export interface BreakerLogger {
  warn(fields: object, message: string): void;
}

function counter(registry: Registry, name: string, help: string): Counter<'dependency'> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'dependency'>;
  return new Counter({ name, help, labelNames: ['dependency'], registers: [registry] });
}

/** The outbound metrics on `registry` (made once per registry), with this dependency's series at 0. */
export function outboundMetrics(registry: Registry, dependency: string): OutboundMetrics {
  const m: OutboundMetrics = {
    requests: counter(
      registry,
      'firebreak_outbound_requests_total',
      'Calls to a dependency through its outbound policy (first attempts only).',
    ),
    retries: counter(
      registry,
      'firebreak_outbound_retries_total',
      'Retries made to a dependency by its outbound policy (after backoff).',
    ),
    refused: counter(
      registry,
      'firebreak_outbound_retries_refused_total',
      'Retries the retry budget refused: the call failed at once with its error.',
    ),
    breakerState: breakerStateGauge(registry),
  };
  // Series exist at 0 from the first scrape, so increase() sees the first retries.
  m.requests.inc({ dependency }, 0);
  m.retries.inc({ dependency }, 0);
  m.refused.inc({ dependency }, 0);
  return m;
}

function breakerStateGauge(registry: Registry): Gauge<'dependency'> {
  const name = 'firebreak_outbound_breaker_state';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<'dependency'>;
  return new Gauge({
    name,
    help: 'Circuit breaker state per dependency: 0 closed, 1 open, 2 half-open, 3 isolated.',
    labelNames: ['dependency'],
    registers: [registry],
  });
}

/** Numeric breaker state for a gauge: 0 closed, 1 open, 2 half-open, 3 isolated. */
export function breakerStateValue(state: CircuitState): number {
  return state;
}

export function isOpen(breaker: CircuitBreakerPolicy): boolean {
  return breaker.state === CircuitState.Open || breaker.state === CircuitState.Isolated;
}

/**
 * Mirrors a breaker's state into gauges (labelled with the dependency) and
 * logs each change at warn. Sets the gauges at once, so the series exist
 * before the first change. Returns the subscription.
 */
export function watchBreaker(
  breaker: CircuitBreakerPolicy,
  dependency: string,
  sinks: { readonly gauges: readonly Gauge<'dependency'>[]; readonly logger?: BreakerLogger | undefined },
): IDisposable {
  const set = (state: CircuitState) => {
    for (const gauge of sinks.gauges) gauge.set({ dependency }, breakerStateValue(state));
  };
  set(breaker.state);
  return breaker.onStateChange((state) => {
    set(state);
    sinks.logger?.warn({ dependency, state: breakerStateValue(state) }, 'breaker state changed');
  });
}
