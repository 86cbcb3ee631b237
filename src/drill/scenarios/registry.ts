// Every scenario `firebreak drill --scenario NAME` knows, in the order the
// help lists them.

import { fbError } from '../../errors/index.ts';
import { kafkaOutageScenario } from './kafkaOutage.ts';
import { primaryKillScenario } from './primaryKill.ts';
import { dbLatencyScenario } from './dbLatency.ts';
import { workerKillScenario } from './workerKill.ts';
import { providerOutageScenario } from './providerOutage.ts';
import { retryStormScenario } from './retryStorm.ts';
import { renewalsScenario } from './renewals.ts';
import { cachePoisonScenario } from './cachePoison.ts';
import { rowRewriteScenario } from './rowRewrite.ts';
import { badConfigScenario } from './badConfig.ts';
import { crossEnvScenario } from './crossEnv.ts';
import type { Scenario, ScenarioNeeds } from './scenario.ts';

export const SCENARIOS: readonly Scenario[] = [
  primaryKillScenario,
  dbLatencyScenario(),
  workerKillScenario,
  providerOutageScenario,
  kafkaOutageScenario,
  retryStormScenario,
  renewalsScenario,
  cachePoisonScenario,
  rowRewriteScenario,
  badConfigScenario,
  crossEnvScenario,
];

export function scenarioNames(): string[] {
  return SCENARIOS.map((s) => s.name);
}

/** Resolves names (or "all") to scenarios; an unknown name is a usage error that lists the known ones. */
export function selectScenarios(names: readonly string[]): Scenario[] {
  if (names.includes('all')) return [...SCENARIOS];
  const picked: Scenario[] = [];
  for (const name of names) {
    const scenario = SCENARIOS.find((s) => s.name === name);
    if (!scenario)
      throw fbError(
        'FB_USAGE',
        `--scenario: unknown scenario ${JSON.stringify(name)}; known: ${scenarioNames().join(', ')}, or all`,
        { field: '--scenario' },
      );
    if (!picked.includes(scenario)) picked.push(scenario);
  }
  return picked;
}

/** What the stack must start for these scenarios together. */
export function combinedNeeds(scenarios: readonly Scenario[]): Required<ScenarioNeeds> {
  return {
    redis: scenarios.some((s) => s.needs?.redis === true),
    kafka: scenarios.some((s) => s.needs?.kafka === true),
  };
}
