// A drill scenario: a fault (or a guard's test) that `firebreak drill
// --scenario NAME` runs against the live embedded stack while the drill's
// seeded traffic flows, then heals, and reports what it measured. The drill
// audits the money invariants after every scenario has finished, so a
// scenario only has to judge its own claim (e.g. "the fallback stayed under
// its cap", "the staging process refused the production database").
//
// Each scenario lives in its own file in this folder and is listed in
// ./registry.ts.

import type { EmbeddedStack } from '../embeddedStack.ts';
import type { SeededRandom } from '../../util/seededRandom.ts';

/** What a scenario's result carries under `scenarios.<name>` in `firebreak drill --json`. */
export interface ScenarioResult {
  readonly verdict: 'pass' | 'fail';
  /** One line a person reads in the report. */
  readonly summary: string;
  /** Figures the scenario measured (counts, milliseconds), flat and JSON-safe. */
  readonly measurements: Readonly<Record<string, number | string | boolean | null>>;
  /** What went wrong, one sentence each; empty on pass. */
  readonly violations: readonly string[];
  /**
   * Time to recovery in ms (fault healed, or for a kill the kill itself, to
   * the first successful end-to-end charge or the scenario's own recovery
   * signal); null when it never recovered; absent when the scenario has no
   * recovery to measure. The drill checks it against the recovery SLO
   * (--recovery-slo, default 300 s) and pages on a breach.
   */
  readonly recoveryMs?: number | null;
}

export interface ScenarioContext {
  readonly stack: EmbeddedStack;
  readonly rng: SeededRandom;
  /** The drill's work directory (removed at the end unless --keep). */
  readonly workDir: string;
  /** Resolves when the drill's own traffic has all been sent. */
  readonly trafficDone: Promise<void>;
  readonly progress: (line: string) => void;
  readonly signal?: AbortSignal;
  /**
   * Sends n more seeded checkouts through the API now (e.g. while a fault
   * lasts) and adds them to what the drill audits. Resolves when all were
   * answered.
   */
  readonly sendCheckouts: (n: number) => Promise<{ accepted: number; clientVisibleErrors: number }>;
  /**
   * Records a moment on the run's timeline (the journal and the HTML report's
   * chart): 'inject' and 'heal' for fault windows, 'recovered' for recovery
   * marks, anything else as a note. Returns the mark's time (performance.now()).
   */
  readonly mark: (event: 'inject' | 'heal' | 'recovered' | 'note', detail?: string) => number;
  /**
   * Resolves with the milliseconds from `since` (a performance.now() time,
   * e.g. a heal or a kill) to the first checkout the ledger committed after
   * it, sending probe checkouts while it waits; rejects after timeoutMs.
   */
  readonly firstCommitAfter: (since: number, timeoutMs: number) => Promise<number>;
}

/** What the embedded stack must start for a scenario, beyond its default parts. */
export interface ScenarioNeeds {
  /** A Redis server (Debian's redis-server) and the API's cached catalog reads. */
  readonly redis?: boolean;
  /** The Kafka peer (kcat's mock cluster) rather than the file sink. */
  readonly kafka?: boolean;
}

export interface Scenario {
  readonly name: string;
  /** One line for `firebreak drill --help`. */
  readonly description: string;
  readonly needs?: ScenarioNeeds;
  /**
   * Runs concurrently with the drill's traffic, starting right after the
   * stack is up. Must heal whatever it broke before resolving. Throwing is
   * reported as a failed scenario with the error's message.
   */
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
  /**
   * Undoes the scenario's fault. The drill calls it after run() settles,
   * whether run() healed already, threw, or the drill was interrupted
   * (Ctrl-C), so it must be idempotent and safe to call at any point.
   */
  heal?(ctx: ScenarioContext): Promise<void>;
}
