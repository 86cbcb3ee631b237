// Scenario bad-config: a bad config push never reaches production.
//
// (a) An invalid worker namespace (a provider timeout below the schema's
//     floor, a database URL pasted with its password, a key the worker does
//     not know) is refused by validation with a line and column per problem,
//     and a worker started on it exits 2 before it opens anything.
// (b) A valid but harmful one: the provider timeout tightened from 5000 ms to
//     250 ms. Every field is in range; what makes it harmful is the provider,
//     whose captures take longer than that (3-D Secure, cross-border
//     acquirers: hundreds of ms, seconds at p99). The schema cannot know the
//     provider's latency; a staging drill against a provider that answers like
//     the real one does: every capture times out (and is taken at the provider
//     but never booked), nothing settles, the drill fails and records so for
//     that content hash, and `config promote` refuses it, naming the failed
//     drill. A sane tightening to 3000 ms is drilled the same way as a control:
//     it passes and is promoted, so the harness is shown able to tell the two
//     apart.
//
// Each drill of a config is small and self-contained (./badConfigDrill.ts):
// two fresh databases on the stack's own Postgres servers, and its own
// provider sandbox, API and worker, the worker started with FIREBREAK_CONFIG
// naming the namespace under test. The scenario works on a copy of
// config/worker/ and its own drill-records file in the work directory: the
// repository's namespaces and records are never touched.

import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { shortHash } from '../../config/contentHash.ts';
import { DEFAULT_CONFIG_DIR, namespaceFile, recordDrillResult } from '../../config/drillRecords.ts';
import { formatProblem, readNamespace, type LoadedNamespace } from '../../config/namespace.ts';
import { promote } from '../../config/promote.ts';
import { isFirebreakError } from '../../errors/index.ts';
import {
  drillWorkerConfig,
  PROVIDER_LATENCY_MS,
  started,
  stopAll,
  type ConfigDrillDeps,
} from './badConfigDrill.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.ts';

/** The harmful value: in range, and below the provider's latency. */
export const HARMFUL_TIMEOUT_MS = 250;
/** The control: a tightening that still fits the provider. */
export const CONTROL_TIMEOUT_MS = 3_000;
const WORKER_MAIN = fileURLToPath(new URL('../../worker/main.ts', import.meta.url));

/** What the scenario needs: the stack's Postgres servers and catalog, and scratch space. */
export type BadConfigDeps = ConfigDrillDeps;

/** A worker namespace with one tunable changed, comments and bindings kept. */
function withTimeout(text: string, timeoutMs: number): string {
  const doc = parseDocument(text);
  doc.setIn(['tunables', 'provider', 'timeoutMs'], timeoutMs);
  return doc.toString();
}

function invalidNamespace(text: string): string {
  const doc = parseDocument(text);
  doc.setIn(['tunables', 'provider', 'timeoutMs'], 1);
  doc.setIn(['tunables', 'provider', 'retries'], 3);
  // A credential pasted where a reference belongs (a made-up one).
  doc.setIn(
    ['bindings', 'ledgerDatabaseUrl'],
    'postgres://firebreak:hunter2@ledger.staging.internal:5432/ledger',
  );
  return doc.toString();
}

/** Starts a worker on the namespace and returns its exit code and stderr (it must refuse to start). */
function startWorkerOn(configFile: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', WORKER_MAIN],
      {
        env: {
          PATH: process.env.PATH ?? '',
          FIREBREAK_CONFIG: configFile,
          QUEUE_DATABASE_URL: 'postgres://127.0.0.1:1/unused',
          PSP_URL: 'http://127.0.0.1:1',
        },
        timeout: 30_000,
      },
      (err, _stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr }),
    );
  });
}

/** The whole scenario against any two Postgres servers; the drill passes its stack's. */
export async function runBadConfig(deps: BadConfigDeps): Promise<ScenarioResult> {
  const violations: string[] = [];
  const configDir = join(deps.workDir, 'config');
  const stateFile = join(deps.workDir, 'drill-records.jsonl');
  await mkdir(join(configDir, 'worker'), { recursive: true });
  const repoStaging = await readFile(namespaceFile(DEFAULT_CONFIG_DIR, 'worker', 'staging'), 'utf8');
  const repoProd = await readFile(namespaceFile(DEFAULT_CONFIG_DIR, 'worker', 'prod'), 'utf8');
  const stagingFile = namespaceFile(configDir, 'worker', 'staging');
  const prodFile = namespaceFile(configDir, 'worker', 'prod');
  await writeFile(prodFile, repoProd);

  // (a) invalid: refused by validation, and by the worker itself.
  const invalidFile = join(deps.workDir, 'invalid', 'worker', 'staging.yaml');
  await mkdir(join(deps.workDir, 'invalid', 'worker'), { recursive: true });
  await writeFile(invalidFile, invalidNamespace(repoStaging));
  const invalid = readNamespace(invalidFile);
  const problems = invalid.ok ? [] : invalid.problems;
  for (const p of problems) deps.progress(`bad-config: (a) ${formatProblem(p)}`);
  if (problems.length < 3 || problems.some((p) => p.line === undefined))
    violations.push(
      `validation found ${problems.length} problems (expected 3, each with a line) in the invalid namespace`,
    );
  const refused = await startWorkerOn(invalidFile);
  deps.progress(
    `bad-config: (a) a worker started on it exited ${String(refused.code)}: ${refused.stderr.trim().slice(0, 300)}`,
  );
  if (refused.code !== 2 || !/^FB_CONFIG_INVALID: .*staging\.yaml:\d+:\d+/.test(refused.stderr))
    violations.push(
      `a worker started on the invalid namespace exited ${String(refused.code)}, not 2 with FB_CONFIG_INVALID and a position`,
    );
  if (refused.stderr.includes('hunter2')) violations.push('the worker printed the pasted password');

  // (b) harmful but valid, and a control, each drilled in staging and recorded.
  const variants = [
    { label: 'harmful', timeoutMs: HARMFUL_TIMEOUT_MS },
    { label: 'control', timeoutMs: CONTROL_TIMEOUT_MS },
  ];
  const namespaces: LoadedNamespace[] = [];
  for (const v of variants) {
    const file = join(deps.workDir, v.label, 'worker', 'staging.yaml');
    await mkdir(join(deps.workDir, v.label, 'worker'), { recursive: true });
    await writeFile(file, withTimeout(repoStaging, v.timeoutMs));
    const checked = readNamespace(file);
    if (!checked.ok)
      throw new Error(
        `the ${v.label} namespace does not validate: ${checked.problems.map(formatProblem).join('; ')}`,
      );
    namespaces.push(checked.namespace);
  }
  const [harmfulNs, controlNs] = namespaces as [LoadedNamespace, LoadedNamespace];
  deps.progress(
    `bad-config: (b) drilling provider.timeoutMs ${HARMFUL_TIMEOUT_MS} ms (${shortHash(harmfulNs.hash)}) and ${CONTROL_TIMEOUT_MS} ms (${shortHash(controlNs.hash)}) against a provider answering in ${PROVIDER_LATENCY_MS} ms`,
  );
  const [harmful, control] = await Promise.all([
    drillWorkerConfig(deps, 'harmful', harmfulNs),
    drillWorkerConfig(deps, 'control', controlNs),
  ]);
  for (const [ns, r] of [
    [harmfulNs, harmful],
    [controlNs, control],
  ] as const) {
    await recordDrillResult(
      {
        config: ns,
        verdict: r.verdict,
        seed: deps.seed,
        drill: 'bad-config scenario',
        summary: r.summary,
        violations: r.violations,
      },
      { stateFile },
    );
  }
  deps.progress(`bad-config: (b) harmful: ${harmful.verdict.toUpperCase()} — ${harmful.summary}`);
  deps.progress(`bad-config: (b) control: ${control.verdict.toUpperCase()} — ${control.summary}`);
  if (harmful.verdict !== 'fail')
    violations.push(`the staging drill passed the harmful config: ${harmful.summary}`);
  if (control.verdict !== 'pass')
    violations.push(`the staging drill failed the control config: ${control.summary}`);

  // Promotion: the harmful content is refused, naming its failed drill; prod stays as it was.
  await writeFile(stagingFile, await readFile(harmfulNs.file, 'utf8'));
  let refusal = '';
  try {
    await promote({ service: 'worker', configDir, stateFile });
    violations.push('promote accepted the harmful config');
  } catch (err) {
    if (!isFirebreakError(err) || err.code !== 'FB_CONFIG_NOT_PROMOTABLE') throw err;
    refusal = err.message;
    deps.progress(`bad-config: (b) promote refused: ${err.code}: ${refusal}`);
  }
  if (
    refusal &&
    !(refusal.includes('failed its latest staging drill') && refusal.includes(`seed ${deps.seed}`))
  )
    violations.push(`the refusal does not name the failed drill: ${refusal}`);
  if ((await readFile(prodFile, 'utf8')) !== repoProd)
    violations.push('prod changed although promotion was refused');
  // ...and the control content is promoted.
  await writeFile(stagingFile, await readFile(controlNs.file, 'utf8'));
  const promoted = await promote({ service: 'worker', configDir, stateFile }).catch((err: unknown) => {
    violations.push(`promote refused the control config: ${(err as Error).message}`);
    return null;
  });
  const prodNow = readNamespace(prodFile, { service: 'worker', env: 'prod' });
  if (promoted && !(promoted.written && prodNow.ok && prodNow.namespace.hash === controlNs.hash))
    violations.push('the control config was not written to prod');

  return {
    verdict: violations.length === 0 ? 'pass' : 'fail',
    summary:
      violations.length === 0
        ? `invalid config refused (${problems.length} problems, worker exit 2); timeout ${HARMFUL_TIMEOUT_MS} ms failed its staging drill (${harmful.settled}/${harmful.accepted} settled) and was not promotable; ${CONTROL_TIMEOUT_MS} ms passed and was promoted`
        : `${violations.length} of the bad-config claims did not hold`,
    measurements: {
      invalidProblems: problems.length,
      invalidWorkerExitCode: refused.code,
      harmfulHash: harmfulNs.hash,
      harmfulVerdict: harmful.verdict,
      harmfulSettled: harmful.settled,
      harmfulAccepted: harmful.accepted,
      harmfulProviderBreaker: harmful.providerBreaker,
      harmfulUnbookedCaptures: harmful.unbookedCaptures,
      controlHash: controlNs.hash,
      controlVerdict: control.verdict,
      controlSettleMs: control.settleMs,
      promoteRefused: refusal !== '',
      controlPromoted: promoted?.written ?? false,
      providerLatencyMs: PROVIDER_LATENCY_MS,
    },
    violations,
  };
}

export const badConfigScenario: Scenario = {
  name: 'bad-config',
  description: `an invalid worker config is refused; a valid but harmful one (provider timeout ${HARMFUL_TIMEOUT_MS} ms) fails its staging drill and cannot be promoted`,
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const { stack } = ctx;
    if (!stack.ledgerServer || !stack.queueServer)
      throw new Error("bad-config needs the stack's Postgres servers");
    return runBadConfig({
      ledgerServer: stack.ledgerServer,
      queueServer: stack.queueServer,
      drillCatalog: stack.options.drillCatalog,
      seed: stack.options.seed,
      rng: ctx.rng,
      workDir: join(ctx.workDir, 'bad-config'),
      progress: ctx.progress,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
  },
  async heal(): Promise<void> {
    await stopAll([...started]);
  },
};
