import { z } from 'zod';
import { DEFAULT_DRILL_OPTIONS, runDrill } from '../drill/runDrill.ts';
import { drillResultJson, formatDrillReport } from '../drill/report.ts';
import { sendNotification, sendPage, writeReports, type ReportFiles } from '../drill/publish.ts';
import { SCENARIOS, selectScenarios } from '../drill/scenarios/registry.ts';
import { fbError } from '../errors/index.ts';
import { DEFAULT_STATE_FILE, DRILL_RECORD_COMMAND, recordDrillResult } from '../config/drillRecords.ts';
import { resolve } from 'node:path';
import { environmentName } from '../config/fields.ts';
import { loadNamespace } from '../config/namespace.ts';
import { oneLineSummary } from '../drill/publish.ts';
import type { DrillResult } from '../drill/runDrill.ts';
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
  --config ENV         run the services with their config namespaces for ENV
                       (config/<service>/ENV.yaml) and record the verdict per
                       namespace content hash: the proof "firebreak config
                       promote" asks for
  --state FILE         where --config records go (default .firebreak/drill-records.jsonl)
  --recovery-slo S     seconds a scenario may take to recover before the drill fails
                       and pages (default ${DEFAULT_DRILL_OPTIONS.recoverySloSec})
  --report-dir DIR     where the run's journal.json, summary.md and report.html go
                       (default ./firebreak-reports; one subdirectory per run)
  --page-url URL       on a failed verdict, send a PagerDuty Events v2 page there
                       (routing key from FIREBREAK_PAGERDUTY_ROUTING_KEY)
  --notify-url URL     post the one-line summary to a chat webhook on every run
  --keep               keep the work directory (logs, provider record) afterwards
  --json               print the run journal as one JSON document on stdout
  Exit code: 0 pass (every invariant and scenario), 1 fail, 2 bad usage.`;

const httpUrl = z
  .string()
  .url('must be an http(s) URL')
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL');

export async function drillCommand(args: string[]): Promise<number> {
  const v = parseFlags('drill', args, {
    checkouts: { type: 'string' },
    creators: { type: 'string' },
    seed: { type: 'string' },
    'decline-rate': { type: 'string' },
    'error-rate': { type: 'string' },
    'settle-timeout': { type: 'string' },
    scenario: { type: 'string', multiple: true },
    'recovery-slo': { type: 'string' },
    config: { type: 'string' },
    state: { type: 'string' },
    'report-dir': { type: 'string' },
    'page-url': { type: 'string' },
    'notify-url': { type: 'string' },
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
  const recoverySloSec =
    flag(
      'recovery-slo',
      z
        .string()
        .regex(/^[0-9]+(\.[0-9]{1,3})?$/, 'must be a number of seconds (up to 3 decimals)')
        .transform(Number)
        .refine((n) => n > 0 && n <= 86_400, 'must be above 0 and at most 86400')
        .optional(),
      v['recovery-slo'],
    ) ?? d.recoverySloSec;
  const configEnv = flag('config', environmentName.optional(), v.config);
  const reportDir = flag('report-dir', z.string().min(1).default('firebreak-reports'), v['report-dir']);
  const pageUrl = flag('page-url', httpUrl.optional(), v['page-url']);
  const notifyUrl = flag('notify-url', httpUrl.optional(), v['notify-url']);
  const routingKey = process.env.FIREBREAK_PAGERDUTY_ROUTING_KEY ?? '';
  if (pageUrl !== undefined && routingKey === '')
    throw fbError(
      'FB_USAGE',
      '--page-url needs a PagerDuty routing key: set FIREBREAK_PAGERDUTY_ROUTING_KEY (it is never printed or stored in the report).',
      { field: '--page-url' },
    );

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
      recoverySloSec,
      ...(configEnv !== undefined ? { configEnv } : {}),
      keepWorkDir: v.keep ?? false,
      progress: (line) => process.stderr.write(`${line}\n`),
      signal: controller.signal,
    });
    const say = (line: string) => process.stderr.write(`${line}\n`);
    let files: ReportFiles | undefined;
    try {
      files = await writeReports(result, reportDir);
    } catch (err) {
      say(`could not write the report to ${reportDir}: ${(err as Error).message}`);
    }
    process.stdout.write(v.json ? `${drillResultJson(result)}\n` : formatDrillReport(result));
    if (result.config)
      await recordConfigDrill(result, say, v.state === undefined ? DEFAULT_STATE_FILE : resolve(v.state));
    if (files) say(`report: ${files.html}\nsummary: ${files.markdown}\njournal: ${files.journal}`);
    // Telling people never changes the verdict; a failure to tell them is said loudly.
    if (pageUrl !== undefined && result.verdict === 'fail') {
      await sendPage(result, { url: pageUrl, routingKey, reportPath: files?.html }).then(
        say,
        (err: unknown) => say(`PAGE NOT SENT to ${new URL(pageUrl).host}: ${(err as Error).message}`),
      );
    }
    if (notifyUrl !== undefined) {
      await sendNotification(result, notifyUrl, files?.html).then(say, (err: unknown) =>
        say(`notification not sent to ${new URL(notifyUrl).host}: ${(err as Error).message}`),
      );
    }
    return controller.signal.aborted ? 130 : result.verdict === 'pass' ? 0 : 1;
  } catch (err) {
    if (!controller.signal.aborted) throw err;
    // runDrill rejects on Ctrl-C only after healing every scenario and stopping the stack.
    process.stderr.write(
      v.keep
        ? 'interrupted: faults healed, stack stopped (work directory kept)\n'
        : 'interrupted: faults healed, stack stopped and its files removed\n',
    );
    // The abandoned run's waits (clients' retries, a scenario's polls) have nothing left
    // to act on: leave now rather than wait out their timers. stderr is synchronous on
    // Linux for pipes and terminals, so nothing written above is lost.
    process.exit(130);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Records the verdict for each namespace the drill ran with — unless its file
 * changed while the drill ran, in which case the result proves nothing about
 * what is in the file now.
 */
async function recordConfigDrill(
  result: DrillResult,
  say: (line: string) => void,
  stateFile: string,
): Promise<void> {
  if (!result.config) return;
  for (const [service, ran] of Object.entries(result.config.services)) {
    const now = loadNamespace(ran.file);
    if (now.hash !== ran.hash) {
      say(
        `not recorded for ${service}: ${ran.file} changed during the drill (${ran.hash} ran, ${now.hash} is there now)`,
      );
      continue;
    }
    await recordDrillResult(
      {
        config: now,
        verdict: result.verdict,
        seed: result.seed,
        drill: DRILL_RECORD_COMMAND.replace('staging', result.config.env),
        summary: oneLineSummary(result),
        violations: result.violations.slice(0, 50),
      },
      { stateFile },
    );
    say(
      `recorded a ${result.verdict === 'pass' ? 'passing' : 'FAILED'} ${result.config.env} drill for ${service} ${ran.hash}`,
    );
  }
}
