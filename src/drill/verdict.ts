// The drill's verdict: pass only when every audit holds (the money invariants,
// the events on the bus, renewals), every checkout the clients sent was
// accepted, and every scenario passed. A pure function over the audits'
// results, so a test can break a real store, run the same audits, and show
// that this — the very decision `firebreak drill` exits with — fails.

import { invariantsHold, type InvariantVerdicts } from '../audit/invariants.ts';
import { eventsHold, type EventsVerdicts } from '../audit/eventsAudit.ts';
import type { RenewalsVerdicts } from '../audit/renewalsAudit.ts';
import type { ScenarioResult } from './scenarios/scenario.ts';

export interface VerdictInputs {
  readonly invariants: InvariantVerdicts;
  readonly events: EventsVerdicts;
  readonly renewals: Pick<RenewalsVerdicts, 'violations'>;
  /** Checkouts the API never accepted after all client retries. */
  readonly notAccepted: number;
  /** Each scenario's result (after the recovery SLO check), by name. */
  readonly scenarios: Readonly<Record<string, ScenarioResult>>;
}

export interface DrillVerdict {
  readonly verdict: 'pass' | 'fail';
  /** Every reason it failed, one sentence each; a scenario's are prefixed with its name. */
  readonly violations: string[];
}

export function drillVerdict(i: VerdictInputs): DrillVerdict {
  const scenariosPass = Object.values(i.scenarios).every((r) => r.verdict === 'pass');
  const ok =
    invariantsHold(i.invariants) &&
    eventsHold(i.events) &&
    i.renewals.violations.length === 0 &&
    i.notAccepted === 0 &&
    scenariosPass;
  const violations = [
    ...i.invariants.violations,
    ...i.events.violations,
    ...i.renewals.violations,
    ...Object.entries(i.scenarios).flatMap(([name, r]) => r.violations.map((v) => `${name}: ${v}`)),
  ];
  if (i.notAccepted > 0) violations.push(`api: ${i.notAccepted} checkouts were never accepted`);
  return { verdict: ok ? 'pass' : 'fail', violations };
}
