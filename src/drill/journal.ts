// The run journal: what happened when, for the JSON a machine reads and the
// timeline chart a person reads. Marks are moments (a fault injected or
// healed, a recovery observed, a phase of the drill); samples are the
// pipeline's counters every half second (accepted by the API, committed by the
// ledger, client-visible errors, dead letters). Times are milliseconds since
// the drill started.

import pg from 'pg';
import { countDeadLetters } from '../audit/queueAudit.ts';

export type MarkEvent = 'phase' | 'inject' | 'heal' | 'recovered' | 'note';

export interface TimelineMark {
  readonly atMs: number;
  /** The scenario that made the mark; null for the drill's own phases. */
  readonly scenario: string | null;
  readonly event: MarkEvent;
  readonly detail: string;
}

export interface TimelineSample {
  readonly atMs: number;
  readonly accepted: number;
  /** Checkouts in the ledger; null while the ledger could not be read (e.g. its primary is down). */
  readonly committed: number | null;
  readonly clientErrors: number;
  readonly deadLettered: number | null;
}

/** Counters the traffic senders bump as responses arrive. */
export interface LiveCounters {
  accepted: number;
  clientErrors: number;
}

export class RunJournal {
  readonly t0: number;
  readonly marks: TimelineMark[] = [];
  readonly samples: TimelineSample[] = [];
  readonly live: LiveCounters = { accepted: 0, clientErrors: 0 };
  private timer: NodeJS.Timeout | undefined;
  private pools: pg.Pool[] = [];

  constructor(t0 = performance.now()) {
    this.t0 = t0;
  }

  /** Milliseconds since the drill started, for a performance.now() time. */
  at(time = performance.now()): number {
    return Math.round(time - this.t0);
  }

  /** Records a mark; returns its performance.now() time. */
  mark(scenario: string | null, event: MarkEvent, detail = ''): number {
    const now = performance.now();
    this.marks.push({ atMs: this.at(now), scenario, event, detail });
    return now;
  }

  /** Samples the pipeline every intervalMs until stopSampling(). Reads the stores directly, never the services. */
  startSampling(ledgerUrl: string, queueUrl: string, intervalMs = 500): void {
    const options = { max: 1, connectionTimeoutMillis: 1_000, query_timeout: 1_000 };
    const ledger = new pg.Pool({ connectionString: ledgerUrl, ...options });
    const queue = new pg.Pool({ connectionString: queueUrl, ...options });
    for (const pool of [ledger, queue]) pool.on('error', () => {});
    this.pools = [ledger, queue];
    let busy = false;
    const sample = async () => {
      if (busy) return; // a slow store skips samples rather than piling queries up
      busy = true;
      try {
        const atMs = this.at();
        const [committed, deadLettered] = await Promise.all([
          ledger.query<{ n: string }>('SELECT count(*) n FROM checkouts').then(
            (r) => Number(r.rows[0]?.n ?? 0),
            () => null,
          ),
          countDeadLetters(queue).catch(() => null),
        ]);
        this.samples.push({
          atMs,
          accepted: this.live.accepted,
          committed,
          clientErrors: this.live.clientErrors,
          deadLettered,
        });
      } finally {
        busy = false;
      }
    };
    void sample();
    this.timer = setInterval(() => void sample(), intervalMs);
  }

  async stopSampling(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled(this.pools.map((p) => p.end()));
    this.pools = [];
  }
}
