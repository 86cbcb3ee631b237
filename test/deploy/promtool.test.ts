// The alert rules are valid, and their unit tests pass: `promtool check rules`
// and `promtool test rules` on deploy/prometheus. Then, so the unit tests
// cannot quietly stop covering an alert: every alert of rules.yml has at least
// one case where it fires (for each of its severities) and one where it stays
// silent, and every alert says who it is for (severity) and where its runbook is.
//
// promtool comes from Debian's prometheus package (.ci/run installs it). Without
// it the promtool tests skip, saying so; the coverage checks still run.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  OBSERVABILITY_DOC,
  RULE_TESTS,
  RULES,
  readYaml,
  run,
  which,
  yamlParser,
  type Rule,
  type RuleFile,
} from './deployFiles.ts';

const NO_PROMTOOL = 'promtool is not on PATH: apt-get install prometheus (Debian) to run the rule tests';
const NO_YAML = 'no YAML parser (js-yaml) in node_modules: run npm ci';

let promtool: string | undefined;
let hasYaml = false;

before(async () => {
  promtool = await which('promtool');
  hasYaml = (await yamlParser()) !== undefined;
});

test('promtool check rules: deploy/prometheus/rules.yml is valid', async (t) => {
  if (!promtool) return t.skip(NO_PROMTOOL);
  const result = await run(promtool, ['check', 'rules', RULES]);
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /SUCCESS: \d+ rules found/);
});

test('promtool test rules: every alert fires and stays silent where it should', async (t) => {
  if (!promtool) return t.skip(NO_PROMTOOL);
  // Three days of samples: tens of seconds on a busy two-core machine.
  const result = await run(promtool, ['test', 'rules', ...RULE_TESTS]);
  assert.equal(result.code, 0, result.output);
  assert.doesNotMatch(result.output, /FAILED/);
});

interface AlertCase {
  eval_time: string;
  alertname: string;
  exp_alerts?: { exp_labels?: Record<string, string> }[];
}
interface RuleTestFile {
  tests: { name?: string; alert_rule_test?: AlertCase[] }[];
}

async function alertRules(): Promise<Rule[]> {
  const file = (await readYaml(RULES)) as RuleFile;
  return file.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
}

test('the unit tests cover every alert: a firing case per severity and a silent case', async (t) => {
  if (!hasYaml) return t.skip(NO_YAML);
  const cases: AlertCase[] = [];
  for (const path of RULE_TESTS) {
    const file = (await readYaml(path)) as RuleTestFile;
    for (const group of file.tests) cases.push(...(group.alert_rule_test ?? []));
  }
  const alerts = await alertRules();
  const names = new Set(alerts.map((r) => r.alert));
  for (const c of cases)
    assert.ok(names.has(c.alertname), `a test names an alert that does not exist: ${c.alertname}`);

  for (const name of names) {
    const mine = cases.filter((c) => c.alertname === name);
    assert.ok(
      mine.some((c) => (c.exp_alerts ?? []).length === 0),
      `${String(name)} has no case where it stays silent`,
    );
    const severities = new Set(alerts.filter((r) => r.alert === name).map((r) => r.labels?.severity));
    for (const severity of severities) {
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).some((a) => a.exp_labels?.severity === severity)),
        `${String(name)} has no case where it fires with severity ${String(severity)}`,
      );
    }
  }
});

test('the alerts the issue names exist, exactly so', async (t) => {
  if (!hasYaml) return t.skip(NO_YAML);
  const names = new Set((await alertRules()).map((r) => r.alert));
  for (const name of [
    'CheckoutRetryRateHigh',
    'CheckoutDeadLetters',
    'OutboxLagHigh',
    'QueueMessageNearExpiry',
    'KafkaBrokerDiskLow',
  ]) {
    assert.ok(names.has(name), `missing alert ${name}`);
  }
  const retry = (await alertRules()).find((r) => r.alert === 'CheckoutRetryRateHigh');
  assert.match(retry?.expr ?? '', /increase\(checkout_service_retry_count\{queue="fifo"\}\[1m\]\)\) > 5$/);
  const disk = (await alertRules()).find((r) => r.alert === 'KafkaBrokerDiskLow');
  assert.match(
    disk?.expr ?? '',
    /node_filesystem_avail_bytes\{mountpoint="\/kafka\/datalogs"\} < 30 \* 1024/,
  );
  // Multi-window burn rates: both windows in each, and the severities the issue asks for.
  const burns = (await alertRules()).filter((r) => /Burn(Fast|Medium|Slow)$/.test(r.alert ?? ''));
  const windows = { Fast: ['1h', '5m', 'page'], Medium: ['6h', '30m', 'page'], Slow: ['3d', '6h', 'ticket'] };
  assert.equal(burns.length, 6, 'fast, medium and slow, for availability and for latency');
  for (const rule of burns) {
    const tier = /Burn(Fast|Medium|Slow)$/.exec(rule.alert ?? '')?.[1] as keyof typeof windows;
    const [long, short, severity] = windows[tier];
    assert.match(
      rule.expr,
      new RegExp(`ratio_rate${long} > .*\\n\\s*and\\n.*ratio_rate${short} > `),
      rule.alert,
    );
    assert.equal(rule.labels?.severity, severity, rule.alert);
  }
});

test('every alert says who it is for and links a runbook section that exists', async (t) => {
  if (!hasYaml) return t.skip(NO_YAML);
  const doc = await readFile(OBSERVABILITY_DOC, 'utf8');
  // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
  const anchors = new Set(
    [...doc.matchAll(/^#+\s+(.+)$/gm)].map((m) =>
      (m[1] ?? '')
        .toLowerCase()
        .replace(/[^\w\s-]/g, '')
        .trim()
        .replace(/\s/g, '-'),
    ),
  );
  for (const rule of await alertRules()) {
    assert.ok(
      ['page', 'ticket'].includes(rule.labels?.severity ?? ''),
      `${String(rule.alert)} needs severity page or ticket`,
    );
    const anchor = /^docs\/observability\.md#(.+)$/.exec(rule.annotations?.runbook_url ?? '')?.[1];
    assert.ok(
      anchor && anchors.has(anchor),
      `${String(rule.alert)}: runbook_url must point at a heading of docs/observability.md`,
    );
    assert.ok(rule.annotations?.summary, `${String(rule.alert)} needs a summary`);
  }
});
