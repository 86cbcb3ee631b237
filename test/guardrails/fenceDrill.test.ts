// The cross-env drill scenario (src/drill/scenarios/crossEnv.ts) run on its
// own against a real Postgres server: a production-stamped ledger, queue and
// Redis, the real API and worker started as staging processes at them, both
// refused with exit 3 and nothing written. (The drill runs it alongside its
// traffic through `firebreak drill --scenario cross-env`.)

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crossEnvScenario } from '../../src/drill/scenarios/crossEnv.ts';
import type { ScenarioContext } from '../../src/drill/scenarios/scenario.ts';
import { SeededRandom } from '../../src/util/seededRandom.ts';
import { makeTestCatalog } from '../helpers/catalog.ts';
import { sharedPostgres } from '../helpers/postgres.ts';

const workDir = await mkdtemp(join(tmpdir(), 'firebreak-cross-env-'));
after(() => rm(workDir, { recursive: true, force: true }));

test('cross-env: the staging API and worker refuse production state (exit 3) and write nothing to it', async () => {
  const marks: string[] = [];
  const ctx = {
    // The parts of the embedded stack the scenario uses.
    stack: {
      ledgerServer: await sharedPostgres(),
      options: { drillCatalog: { catalog: makeTestCatalog().catalog } },
      pspUrl: 'http://127.0.0.1:9',
    },
    rng: new SeededRandom('cross-env'),
    workDir,
    trafficDone: Promise.resolve(),
    progress: () => {},
    sendCheckouts: () => Promise.resolve({ accepted: 0, clientVisibleErrors: 0 }),
    mark: (event: string, detail?: string) => {
      marks.push(`${event}: ${detail ?? ''}`);
      return performance.now();
    },
    firstCommitAfter: () => Promise.reject(new Error('not used')),
  } as unknown as ScenarioContext;
  try {
    const result = await crossEnvScenario.run(ctx);
    assert.deepEqual(result.violations, [], result.summary);
    assert.equal(result.verdict, 'pass');
    assert.equal(result.measurements.apiExitCode, 3);
    assert.equal(result.measurements.workerExitCode, 3);
    assert.equal(result.measurements.postgresTuplesWritten, 0);
    assert.equal(result.measurements.redisWrites, 0);
    assert.match(result.summary, /zero writes/);
    assert.deepEqual(
      marks.map((m) => m.split(':')[0]),
      ['inject', 'heal'],
    );
    const apiLog = await readFile(join(workDir, 'cross-env-api.log'), 'utf8');
    assert.match(
      apiLog,
      /^FB_ENV_MISMATCH: cache redis redis:\/\/127\.0\.0\.1:\d+\/0 belongs to environment "production"/m,
    );
  } finally {
    await crossEnvScenario.heal?.(ctx);
  }
});
