// `firebreak config`: config as code. Validates the namespaces under config/,
// diffs a service's two environments key by key, and promotes staging's
// tunables to prod only with a passing staging drill of exactly that content
// (src/config/promote.ts, docs/guardrails.md#config-as-code-and-promotion).

import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { shortHash } from '../config/contentHash.ts';
import { diffNamespaces, formatChange } from '../config/diff.ts';
import { DEFAULT_CONFIG_DIR, DEFAULT_STATE_FILE, namespaceFile } from '../config/drillRecords.ts';
import { ENVIRONMENTS, type EnvironmentName } from '../config/fields.ts';
import { displayPath, formatProblem, readNamespace, type ConfigProblem } from '../config/namespace.ts';
import { promote } from '../config/promote.ts';
import { SERVICES, type ServiceName } from '../config/services/index.ts';
import { fbError, isFirebreakError } from '../errors/index.ts';
import { flag, parseFlags } from './args.ts';

export const CONFIG_HELP = `firebreak config <validate|diff|promote> [flags]
  Config as code: one namespace per service per environment, config/<service>/<env>.yaml
  (services: ${SERVICES.join(', ')}; environments: ${ENVIRONMENTS.join(', ')}).
  validate [--service S] [--env E]   check namespaces against their schemas (all by default)
  diff --service S [--from E] [--to E]
                       key-level diff (default staging -> prod): tunables are what
                       promotion carries, bindings stay per environment
  promote --service S --to prod [--dry-run]
                       write staging's tunables into prod, only if the latest staging
                       drill of exactly that content passed; touches no other file
  --dir DIR            config directory (default: config/ at the repository root)
  --state FILE         drill records (default: .firebreak/drill-records.jsonl)
  --json               print one JSON document on stdout
  Exit code: 0 ok, 1 promotion refused, 2 bad usage or invalid config.`;

const serviceFlag = z.enum(SERVICES, { error: `must be one of ${SERVICES.join(', ')}` });
const envFlag = z.enum(ENVIRONMENTS, { error: `must be one of ${ENVIRONMENTS.join(', ')}` });

const COMMON = {
  dir: { type: 'string' },
  json: { type: 'boolean' },
} as const;

function configDir(value: string | undefined): string {
  return value === undefined ? DEFAULT_CONFIG_DIR : resolve(value);
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(
    json ? `${JSON.stringify(value, null, 2)}\n` : text.endsWith('\n') ? text : `${text}\n`,
  );
}

interface NamespaceCheck {
  readonly service: string;
  readonly env: string;
  readonly file: string;
  readonly ok: boolean;
  readonly hash?: string;
  readonly problems?: readonly ConfigProblem[];
}

/** Files in the config directory that are not a namespace a service reads: a typo'd directory or environment. */
function strays(dir: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    throw fbError('FB_USAGE', `--dir: cannot read ${displayPath(dir)} (${(err as Error).message})`, {
      field: '--dir',
    });
  }
  for (const entry of entries) {
    if (entry.startsWith('.') || entry.endsWith('.md')) continue;
    const path = join(dir, entry);
    if (!statSync(path).isDirectory() || !(SERVICES as readonly string[]).includes(entry)) {
      problems.push({
        file: displayPath(path),
        path: '',
        message: `not a service's namespace directory (services: ${SERVICES.join(', ')}); nothing reads it`,
        kind: 'schema',
      });
      continue;
    }
    for (const file of readdirSync(path)) {
      if (file.startsWith('.') || file.endsWith('.md')) continue;
      if (!(ENVIRONMENTS as readonly string[]).map((e) => `${e}.yaml`).includes(file))
        problems.push({
          file: displayPath(join(path, file)),
          path: '',
          message: `not a namespace file (expected ${ENVIRONMENTS.map((e) => `${e}.yaml`).join(' or ')}); nothing reads it`,
          kind: 'schema',
        });
    }
  }
  return problems;
}

function validate(args: string[]): number {
  const v = parseFlags('config validate', args, {
    ...COMMON,
    service: { type: 'string' },
    env: { type: 'string' },
  });
  const dir = configDir(v.dir);
  const services = v.service === undefined ? SERVICES : [flag('service', serviceFlag, v.service)];
  const envs = v.env === undefined ? ENVIRONMENTS : [flag('env', envFlag, v.env)];
  const checks: NamespaceCheck[] = services.flatMap((service) =>
    envs.map((env) => {
      const file = namespaceFile(dir, service, env);
      const result = readNamespace(file, { service, env });
      return result.ok
        ? { service, env, file: displayPath(file), ok: true, hash: result.namespace.hash }
        : { service, env, file: displayPath(file), ok: false, problems: result.problems };
    }),
  );
  const stray = v.service === undefined && v.env === undefined ? strays(dir) : [];
  const invalid = checks.filter((c) => !c.ok).length;
  const ok = invalid === 0 && stray.length === 0;
  const width = Math.max(...checks.map((c) => c.file.length));
  const lines = checks.map((c) =>
    c.ok
      ? `ok       ${c.file.padEnd(width)}  ${shortHash(c.hash ?? '')}`
      : [`INVALID  ${c.file}`, ...(c.problems ?? []).map((p) => `         ${formatProblem(p)}`)].join('\n'),
  );
  lines.push(...stray.map((p) => `STRAY    ${formatProblem(p)}`));
  lines.push(
    `${checks.length} namespace${checks.length === 1 ? '' : 's'}: ${checks.length - invalid} valid, ${invalid} invalid${stray.length > 0 ? `; ${stray.length} stray file${stray.length === 1 ? '' : 's'}` : ''}`,
  );
  print(v.json ?? false, { ok, namespaces: checks, strays: stray }, lines.join('\n'));
  return ok ? 0 : 2;
}

function loadOrReport(service: ServiceName, env: EnvironmentName, dir: string) {
  const result = readNamespace(namespaceFile(dir, service, env), { service, env });
  if (result.ok) return result.namespace;
  throw fbError(
    'FB_CONFIG_INVALID',
    `${service} ${env} does not validate (run "firebreak config validate --service ${service} --env ${env}"):\n${result.problems.map(formatProblem).join('\n')}`,
  );
}

function diff(args: string[]): number {
  const v = parseFlags('config diff', args, {
    ...COMMON,
    service: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
  });
  const service = flag('service', serviceFlag, v.service);
  const from = flag('from', envFlag.default('staging'), v.from);
  const to = flag('to', envFlag.default('prod'), v.to);
  if (from === to) throw fbError('FB_USAGE', '--from and --to must name two environments', { field: '--to' });
  const dir = configDir(v.dir);
  const a = loadOrReport(service, from, dir);
  const b = loadOrReport(service, to, dir);
  const changes = diffNamespaces(a.document, b.document);
  const tunables = changes.filter((c) => c.promoted);
  const bindings = changes.filter((c) => !c.promoted);
  const text = [
    `${service}: ${from} -> ${to} (${displayPath(a.file)} -> ${displayPath(b.file)})`,
    `tunables (promoted): ${from} ${shortHash(a.hash)}, ${to} ${shortHash(b.hash)}: ${tunables.length === 0 ? 'identical' : `${tunables.length} differ`}`,
    ...tunables.map((c) => `  ${formatChange(c)}`),
    `bindings (kept per environment): ${bindings.length === 0 ? 'identical' : `${bindings.length} differ`}`,
    ...bindings.map((c) => `  ${formatChange(c)}`),
  ].join('\n');
  print(
    v.json ?? false,
    {
      service,
      from: { env: from, file: displayPath(a.file), hash: a.hash },
      to: { env: to, file: displayPath(b.file), hash: b.hash },
      tunablesIdentical: tunables.length === 0,
      changes,
    },
    text,
  );
  return 0;
}

async function promoteCommand(args: string[]): Promise<number> {
  const v = parseFlags('config promote', args, {
    ...COMMON,
    service: { type: 'string' },
    to: { type: 'string' },
    state: { type: 'string' },
    'dry-run': { type: 'boolean' },
  });
  const service = flag('service', serviceFlag, v.service);
  const to = flag('to', envFlag, v.to);
  if (to !== 'prod')
    throw fbError(
      'FB_USAGE',
      '--to: only prod is promoted to; staging is edited directly (it is where a config is proven)',
      { field: '--to' },
    );
  const json = v.json ?? false;
  let result;
  try {
    result = await promote({
      service,
      configDir: configDir(v.dir),
      stateFile: v.state === undefined ? DEFAULT_STATE_FILE : resolve(v.state),
      dryRun: v['dry-run'] ?? false,
    });
  } catch (err) {
    if (json && isFirebreakError(err) && err.code === 'FB_CONFIG_NOT_PROMOTABLE') {
      print(true, { promoted: false, error: err.toJSON().error }, '');
      return 1;
    }
    throw err;
  }
  const file = displayPath(result.file);
  const proof = `proof: ${result.proof.drill}, seed ${result.proof.seed}, at ${result.proof.at}: ${result.proof.verdict} (${result.proof.summary})`;
  const head =
    result.changes.length === 0
      ? `${service}: ${file} already carries staging's tunables ${shortHash(result.hash)}; nothing written`
      : result.written
        ? `promoted ${service} staging -> prod: ${file} now carries ${shortHash(result.hash)} (was ${shortHash(result.previousHash)})`
        : `${service}: would promote staging -> prod: ${file} would carry ${shortHash(result.hash)} (dry run: nothing written)`;
  const text = [
    head,
    proof,
    ...result.changes.map((c) => `  ${formatChange(c)}`),
    ...(result.written
      ? [
          `prod's bindings were kept; no other file was written and no process was signalled: a process running ${file} reloads it itself.`,
        ]
      : []),
  ].join('\n');
  print(json, { promoted: result.written, ...result, file }, text);
  return 0;
}

export async function configCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'validate':
      return validate(rest);
    case 'diff':
      return diff(rest);
    case 'promote':
      return promoteCommand(rest);
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${CONFIG_HELP}\n`);
      return 0;
    default:
      throw fbError(
        'FB_USAGE',
        `firebreak config: expected "validate", "diff" or "promote"${sub === undefined ? '' : `, got ${JSON.stringify(sub)}`}. Run "firebreak config --help".`,
      );
  }
}
