// Shared pieces of the deploy/ tests: where the files are, finding a tool on
// PATH, running it, reading YAML, and pulling metric names out of PromQL.

import { execFile } from 'node:child_process';
import { access, constants, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RULES = join(ROOT, 'deploy/prometheus/rules.yml');
export const RULE_TESTS = [
  join(ROOT, 'deploy/prometheus/rules.test.yml'),
  join(ROOT, 'deploy/prometheus/rules.slo.test.yml'),
  join(ROOT, 'deploy/prometheus/rules.slow-burn.test.yml'),
  join(ROOT, 'deploy/prometheus/rules.fence.test.yml'),
  join(ROOT, 'deploy/prometheus/rules.reconcile.test.yml'),
];
export const ALERTMANAGER = join(ROOT, 'deploy/alertmanager/alertmanager.yml');
export const DASHBOARD = join(ROOT, 'deploy/grafana/checkout-pipeline.json');
export const OBSERVABILITY_DOC = join(ROOT, 'docs/observability.md');

/** The absolute path of `name` on PATH, or undefined. */
export async function which(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface RunResult {
  readonly code: number;
  readonly output: string;
}

/** Runs a tool to completion; never rejects on a non-zero exit (the caller asserts). */
export function run(file: string, args: readonly string[], timeoutMs = 240_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (err && typeof err.code !== 'number') {
        reject(new Error(`${file} did not run to completion: ${err.message}\n${output}`, { cause: err }));
        return;
      }
      resolve({ code: err ? Number(err.code) : 0, output });
    });
  });
}

type YamlLoad = (text: string) => unknown;

/** The YAML parser the project uses for its own config files (the `yaml` package). */
export function yamlParser(): Promise<YamlLoad | undefined> {
  return Promise.resolve((text: string) => parseYaml(text) as unknown);
}

export async function readYaml(path: string): Promise<unknown> {
  return parseYaml(await readFile(path, 'utf8')) as unknown;
}

export interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const PROMQL_KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression reads. Good enough for our own
 * expressions (checked against every rule and panel): strings, label
 * matchers, ranges, grouping clauses and Grafana variables are cut out first,
 * then every identifier that is not a function call or a keyword is a metric.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*(?![\w:])(?!\s*\()/g)) {
    const name = match[0];
    if (!PROMQL_KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}
