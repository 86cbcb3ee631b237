// The proof promotion asks for: one JSON line per drill run, saying which
// service's config content (its content hash, src/config/contentHash.ts) in
// which environment was drilled, with which seed, when, and the verdict.
//
// The file is .firebreak/drill-records.jsonl at the repository root (or any
// path given with --state), and it is gitignored on purpose: a record is
// evidence produced by the pipeline that ran the drill, in the workspace that
// then promotes. A committed record could be written by hand in a pull
// request, would conflict on every merge, and would grow with every run.
// Appends are one write of one line (O_APPEND), flushed to disk before the
// drill reports, so a crash cannot leave half a record that reads as proof.

import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { fbError } from '../errors/index.ts';
import { environmentName, type EnvironmentName } from './fields.ts';
import { displayPath, loadNamespace, type LoadedNamespace } from './namespace.ts';
import { SERVICES, type ServiceName } from './services/index.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_CONFIG_DIR = join(REPO_ROOT, 'config');
export const DEFAULT_STATE_FILE = join(REPO_ROOT, '.firebreak', 'drill-records.jsonl');

/** The command that drills the staging namespaces and records the results (wired in src/cli/drillCommand.ts). */
export const DRILL_RECORD_COMMAND = 'firebreak drill --config staging';

const DrillRecordSchema = z.strictObject({
  service: z.enum(SERVICES),
  env: environmentName,
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>'),
  verdict: z.enum(['pass', 'fail']),
  seed: z.string().min(1),
  at: z.iso.datetime(),
  /** Which drill ran, e.g. "firebreak drill --config staging" or "bad-config scenario". */
  drill: z.string().min(1).max(200),
  /** The drill's one-line summary; for a failure, what failed. */
  summary: z.string().max(2_000),
  violations: z.array(z.string().max(1_000)).max(50),
});

export type DrillRecord = z.output<typeof DrillRecordSchema>;

export interface RecordDrillInput {
  /** The namespace the drill ran with (or its file path): the record is for exactly that content. */
  readonly config: LoadedNamespace | string;
  readonly verdict: 'pass' | 'fail';
  readonly seed: string;
  readonly drill: string;
  readonly summary: string;
  readonly violations?: readonly string[];
  readonly at?: Date;
}

/** Path of a service's namespace file in a config directory. */
export function namespaceFile(configDir: string, service: ServiceName, env: EnvironmentName): string {
  return join(configDir, service, `${env}.yaml`);
}

/** The content hash of a service's staging namespace (FB_CONFIG_INVALID if it does not validate). */
export function stagingConfigHash(service: ServiceName, { configDir = DEFAULT_CONFIG_DIR } = {}): string {
  return loadNamespace(namespaceFile(configDir, service, 'staging'), { service, env: 'staging' }).hash;
}

/** Appends the result of a drill run for the config it ran with; returns the record written. */
export async function recordDrillResult(
  input: RecordDrillInput,
  { stateFile = DEFAULT_STATE_FILE } = {},
): Promise<DrillRecord> {
  const ns = typeof input.config === 'string' ? loadNamespace(input.config) : input.config;
  const record = DrillRecordSchema.parse({
    service: ns.service,
    env: ns.env,
    hash: ns.hash,
    verdict: input.verdict,
    seed: input.seed,
    at: (input.at ?? new Date()).toISOString(),
    drill: input.drill,
    summary: input.summary.replaceAll('\n', ' ').slice(0, 2_000),
    violations: (input.violations ?? []).slice(0, 50).map((v) => v.slice(0, 1_000)),
  });
  await mkdir(dirname(stateFile), { recursive: true });
  const handle = await open(stateFile, 'a');
  try {
    await handle.write(`${JSON.stringify(record)}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  return record;
}

/** Every record in the state file, oldest first; a missing file has none. */
export async function readDrillRecords(stateFile = DEFAULT_STATE_FILE): Promise<DrillRecord[]> {
  let text: string;
  try {
    text = await readFile(stateFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fbError(
      'FB_CONFIG_INVALID',
      `cannot read drill records ${displayPath(stateFile)}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return text
    .split('\n')
    .map((line, i) => [line, i + 1] as const)
    .filter(([line]) => line.trim() !== '')
    .map(([line, lineNo]) => {
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        json = undefined;
      }
      const parsed = DrillRecordSchema.safeParse(json);
      if (!parsed.success)
        throw fbError(
          'FB_CONFIG_INVALID',
          `${displayPath(stateFile)}:${lineNo}: not a drill record (${parsed.error.issues[0]?.path.join('.') || 'line'}: ${parsed.error.issues[0]?.message ?? 'not JSON'}); records are written only by drills: remove the line and re-run ${DRILL_RECORD_COMMAND}`,
        );
      return parsed.data;
    });
}

/** The most recent record of a drill of this exact content, if any. */
export function latestDrill(
  records: readonly DrillRecord[],
  want: { readonly service: ServiceName; readonly env: EnvironmentName; readonly hash: string },
): DrillRecord | undefined {
  return records
    .filter((r) => r.service === want.service && r.env === want.env && r.hash === want.hash)
    .sort((a, b) => a.at.localeCompare(b.at))
    .at(-1);
}
