import { z } from 'zod';
import { DEFAULT_DRILL_OPTIONS, runDrill } from '../drill/runDrill.ts';
import { drillResultJson, formatDrillReport } from '../drill/report.ts';
import { SCENARIOS, selectScenarios } from '../drill/scenarios/registry.ts';
import { fbError } from '../errors/index.ts';
import { flag, intFlag, parseFlags, rateFlag } from './args.ts';

const SCENARIO_HELP = SCENARIOS.map(
  (s) => `                       ${s.name.padEnd(14)} ${s.description}`,
).join('\n');

export const DRILL_HELP = `firebreak drill [flags]
  Brings up a throwaway stack (embedded Postgres x2, provider, API, worker),
  sends a seeded burst of checkouts, audits the money invariants, tears down.
  --checkouts N        checkouts to send (default ${DEFAULT_DRILL_OPTIONS.checkouts})
  --creators N         creators to spread them over (default ${DEFAULT_DRILL_OPTIONS.creators})
  --seed S             seed for traffic and faults (default ${DEFAULT_DRILL_OPTIONS.seed})
  --decline-rate R     provider decline rate 0..1 (default ${DEFAULT_DRILL_OPTIONS.providerFaults.declineRate})
  --error-rate R       provider transient error rate 0..1 (default ${DEFAULT_DRILL_OPTIONS.providerFaults.errorRate})
  --settle-timeout S   seconds to wait for checkouts to settle (default ${DEFAULT_DRILL_OPTIONS.settleTimeoutSec})
  --scenario NAME      also run a fault scenario alongside the traffic (repeatable,
                       or comma-separated; "all" runs every one):
${SCENARIO_HELP}
  --keep               keep the work directory (logs, provider record) afterwards
  --json               print the result as one JSON document on stdout
  Exit code: 0 pass, 1 fail, 2 bad usage.`;

export async function drillCommand(args: string[]): Promise<number> {
  const v = parseFlags('drill', args, {
    checkouts: { type: 'string' },
    creators: { type: 'string' },
    seed: { type: 'string' },
    'decline-rate': { type: 'string' },
    'error-rate': { type: 'string' },
    'settle-timeout': { type: 'string' },
    scenario: { type: 'string', multiple: true },
    keep: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  const d = DEFAULT_DRILL_OPTIONS;
  const seed = flag('seed', z.string().min(1).max(100).default(d.seed), v.seed);
  const checkouts = flag('checkouts', intFlag(1, 1_000_000).optional(), v.checkouts) ?? d.checkouts;
  const creators = flag('creators', intFlag(1, 10_000).optional(), v.creators) ?? d.creators;
  const declineRate =
    flag('decline-rate', rateFlag.optional(), v['decline-rate']) ?? d.providerFaults.declineRate;
  const errorRate = flag('error-rate', rateFlag.optional(), v['error-rate']) ?? d.providerFaults.errorRate;
  const settleTimeoutSec =
    flag('settle-timeout', intFlag(1, 86_400).optional(), v['settle-timeout']) ?? d.settleTimeoutSec;

  const scenarioNames = (v.scenario ?? []).flatMap((s) => s.split(',')).map((s) => s.trim());
  if (scenarioNames.some((s) => s === ''))
    throw fbError('FB_USAGE', '--scenario: empty scenario name', { field: '--scenario' });
  selectScenarios(scenarioNames); // rejects unknown names before anything starts

  const controller = new AbortController();
  const onSignal = () => {
    process.stderr.write('\ninterrupted: stopping the stack and cleaning up…\n');
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await runDrill({
      ...d,
      seed,
      checkouts,
      creators,
      settleTimeoutSec,
      providerFaults: { ...d.providerFaults, declineRate, errorRate },
      scenarios: scenarioNames,
      keepWorkDir: v.keep ?? false,
      progress: (line) => process.stderr.write(`${line}\n`),
      signal: controller.signal,
    });
    process.stdout.write(v.json ? `${drillResultJson(result)}\n` : formatDrillReport(result));
    return controller.signal.aborted ? 130 : result.verdict === 'pass' ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
