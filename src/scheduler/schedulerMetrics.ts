import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface SchedulerMetrics {
  readonly claimed: Counter;
  readonly enqueued: Counter<'result'>;
  readonly runs: Counter<'outcome'>;
  readonly runDuration: Histogram;
  readonly dueBacklog: Gauge;
  readonly pastDue: Gauge;
  readonly unsent: Gauge;
  readonly oldestUnsettled: Gauge;
}

export function createSchedulerMetrics(registry: Registry): SchedulerMetrics {
  return {
    claimed: new Counter({
      name: 'checkout_scheduler_renewals_claimed_total',
      help: 'Renewal attempts claimed (written to renewal_attempts) by this scheduler.',
      registers: [registry],
    }),
    enqueued: new Counter({
      name: 'checkout_scheduler_renewals_enqueued_total',
      help: 'Renewal messages sent to the payment queue; result="duplicate" when the queue already had it (a re-send).',
      labelNames: ['result'],
      registers: [registry],
    }),
    runs: new Counter({
      name: 'checkout_scheduler_runs_total',
      help: 'Scheduler runs, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    runDuration: new Histogram({
      name: 'checkout_scheduler_run_duration_seconds',
      help: 'Duration of one scheduler run (claim, send, stats).',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    dueBacklog: new Gauge({
      name: 'checkout_scheduler_due_backlog',
      help: 'Subscriptions due for a renewal attempt that no scheduler has claimed yet (after the last run).',
      registers: [registry],
    }),
    pastDue: new Gauge({
      name: 'checkout_scheduler_past_due_subscriptions',
      help: 'Subscriptions past due (retry schedule exhausted, outstanding period unpaid).',
      registers: [registry],
    }),
    unsent: new Gauge({
      name: 'checkout_scheduler_unsent_renewals',
      help: 'Claimed renewal attempts not yet known to be in the payment queue.',
      registers: [registry],
    }),
    // A renewal message that was dead-lettered never settles and holds its subscription: this finds it.
    oldestUnsettled: new Gauge({
      name: 'checkout_scheduler_oldest_unsettled_renewal_seconds',
      help: 'Age of the oldest claimed renewal attempt without an outcome in the ledger (0 when none).',
      registers: [registry],
    }),
  };
}
