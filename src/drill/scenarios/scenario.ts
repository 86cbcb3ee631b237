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
}
