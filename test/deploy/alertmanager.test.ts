// deploy/alertmanager/alertmanager.yml routes every page to the pager, and
// nothing that pages goes only to chat (the incident: a broker-disk alert sent
// to a Slack channel with 477 muted threads).
//
// Two independent checks. amtool (Debian's prometheus-alertmanager package),
// when installed, validates the file and resolves the routes itself. The YAML
// walk below always runs: it follows Alertmanager's routing semantics (first
// matching child wins unless it says `continue`; no matching child means the
// node's own receiver) for every alert in rules.yml, and is checked against
// amtool wherever both run.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALERTMANAGER, RULES, readYaml, run, which, yamlParser, type RuleFile } from './deployFiles.ts';

const NO_AMTOOL = 'amtool is not on PATH: apt-get install prometheus-alertmanager (Debian) to run it';
const NO_YAML = 'no YAML parser (js-yaml) in node_modules: run npm ci';

interface Route {
  receiver?: string;
  matchers?: string[];
  match?: unknown;
  match_re?: unknown;
  continue?: boolean;
  routes?: Route[];
}
interface Receiver {
  name: string;
  [integration: string]: unknown;
}
interface InhibitRule {
  source_matchers?: string[];
  target_matchers?: string[];
}
interface Config {
  route: Route;
  receivers: Receiver[];
  inhibit_rules?: InhibitRule[];
}
type Labels = Readonly<Record<string, string>>;

const PAGER_INTEGRATIONS = ['pagerduty_configs', 'opsgenie_configs', 'webhook_configs'];

let amtool: string | undefined;
let hasYaml = false;

before(async () => {
  amtool = await which('amtool');
  hasYaml = (await yamlParser()) !== undefined;
});

/** One matcher in Alertmanager's syntax: name="v", name!="v", name=~"re", name!~"re". */
function matcher(text: string): (labels: Labels) => boolean {
  const m = /^\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(text);
  assert.ok(m, `matcher this test does not understand (keep to name op "value"): ${text}`);
  const [, name = '', op, raw = ''] = m;
  const value = raw.replace(/\\(.)/g, '$1');
  const re = new RegExp(`^(?:${value})$`);
  return (labels) => {
    const v = labels[name] ?? '';
    if (op === '=') return v === value;
    if (op === '!=') return v !== value;
    if (op === '=~') return re.test(v);
    return !re.test(v);
  };
}

function matches(matchers: readonly string[] | undefined, labels: Labels): boolean {
  return (matchers ?? []).every((m) => matcher(m)(labels));
}

/** The receivers an alert with these labels is sent to, in routing-tree order (as amtool prints them). */
function receiversFor(route: Route, labels: Labels, inherited = ''): string[] {
  assert.equal(route.match, undefined, 'use matchers, not the deprecated match');
  assert.equal(route.match_re, undefined, 'use matchers, not the deprecated match_re');
  if (!matches(route.matchers, labels)) return [];
  const receiver = route.receiver ?? inherited;
  const found: string[] = [];
  for (const child of route.routes ?? []) {
    const sub = receiversFor(child, labels, receiver);
    found.push(...sub);
    if (sub.length > 0 && !child.continue) break;
  }
  return found.length > 0 ? found : [receiver];
}

async function amtoolRoutes(labels: Labels): Promise<string[]> {
  assert.ok(amtool);
  const args = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  const result = await run(amtool, ['config', 'routes', 'test', `--config.file=${ALERTMANAGER}`, ...args]);
  assert.equal(result.code, 0, result.output);
  const line = result.output.split('\n').find((l) => l.trim() !== '' && !l.startsWith('Warning'));
  return (line ?? '').trim().split(',');
}

async function ruleAlerts(): Promise<{ name: string; labels: Labels }[]> {
  const file = (await readYaml(RULES)) as RuleFile;
  return file.groups
    .flatMap((g) => g.rules)
    .flatMap((r) => (r.alert ? [{ name: r.alert, labels: { alertname: r.alert, ...r.labels } }] : []));
}

test('amtool check-config: the Alertmanager configuration is valid', async (t) => {
  if (!amtool) return t.skip(NO_AMTOOL);
  const result = await run(amtool, ['check-config', ALERTMANAGER]);
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /SUCCESS/);
});

test('amtool: pages go to the pager (and a copy to chat), tickets to chat, the unlabelled to the pager', async (t) => {
  if (!amtool) return t.skip(NO_AMTOOL);
  assert.deepEqual(await amtoolRoutes({ alertname: 'KafkaBrokerDiskLow', severity: 'page' }), [
    'pager',
    'chat',
  ]);
  assert.deepEqual(await amtoolRoutes({ alertname: 'CheckoutDeadLetters', severity: 'ticket' }), ['chat']);
  assert.deepEqual(await amtoolRoutes({ alertname: 'SomethingNew' }), ['pager']);
});

test('every alert in rules.yml: a page reaches a pager receiver, a ticket reaches chat', async (t) => {
  if (!hasYaml) return t.skip(NO_YAML);
  const config = (await readYaml(ALERTMANAGER)) as Config;
  const byName = new Map(config.receivers.map((r) => [r.name, r]));
  const isPager = (name: string) => PAGER_INTEGRATIONS.some((k) => byName.get(name)?.[k] !== undefined);
  const alerts = await ruleAlerts();
  assert.ok(alerts.length > 0);
  for (const { name, labels } of alerts) {
    const receivers = receiversFor(config.route, labels);
    for (const r of receivers) assert.ok(byName.has(r), `${name} routes to undefined receiver ${r}`);
    if (labels.severity === 'page') {
      assert.ok(receivers.some(isPager), `${name} pages but reaches only ${receivers.join(', ')}`);
    } else {
      assert.equal(labels.severity, 'ticket', `${name}: severity must be page or ticket`);
      assert.ok(
        receivers.some((r) => byName.get(r)?.slack_configs !== undefined),
        `${name} is a ticket but reaches no chat receiver (${receivers.join(', ')})`,
      );
    }
    if (amtool) {
      assert.deepEqual(receivers, await amtoolRoutes(labels), `${name}: this walk and amtool disagree`);
    }
  }
  // An alert nobody labelled is treated as a page, not dropped into a channel.
  assert.ok(receiversFor(config.route, { alertname: 'SomethingNew' }).some(isPager));
});

test('no page can be inhibited by a ticket, and no secret is written in the file', async (t) => {
  if (!hasYaml) return t.skip(NO_YAML);
  const config = (await readYaml(ALERTMANAGER)) as Config;
  for (const rule of config.inhibit_rules ?? []) {
    assert.ok(
      !matches(rule.target_matchers, { severity: 'page', slo: 'checkout-availability', alertname: 'X' }) ||
        !matches(rule.source_matchers, { severity: 'ticket', slo: 'checkout-availability', alertname: 'X' }),
      `inhibit rule lets a ticket silence a page: ${JSON.stringify(rule)}`,
    );
  }
  for (const receiver of config.receivers) {
    for (const pd of (receiver.pagerduty_configs as Record<string, unknown>[] | undefined) ?? []) {
      assert.equal(pd.routing_key, undefined, 'PagerDuty routing key must come from routing_key_file');
      assert.equal(pd.service_key, undefined, 'use Events API v2 (routing_key_file), not a v1 service_key');
      assert.ok(pd.routing_key_file, 'routing_key_file is set');
    }
    for (const slack of (receiver.slack_configs as Record<string, unknown>[] | undefined) ?? []) {
      assert.equal(slack.api_url, undefined, 'Slack webhook URL must come from api_url_file');
    }
  }
});
