// The bad-config drill scenario, run on its own against two test Postgres
// servers: the invalid namespace is refused, the harmful one fails its staging
// drill and is not promotable, the control passes and is promoted.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDrillRecords } from '../../src/config/drillRecords.ts';
import { makeDrillCatalog } from '../../src/drill/drillCatalog.ts';
import { badConfigScenario, runBadConfig } from '../../src/drill/scenarios/badConfig.ts';
import { SeededRandom } from '../../src/util/seededRandom.ts';
import { sharedPostgres } from '../helpers/postgres.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'firebreak-bad-config-'));
});
after(async () => {
  await badConfigScenario.heal?.({} as never);
  await rm(dir, { recursive: true, force: true });
});

test('bad-config: invalid refused, harmful caught by its staging drill and not promotable, control promoted', async () => {
  const rng = new SeededRandom('bad-config-test');
  const lines: string[] = [];
  const repoProd = await readFile(new URL('../../config/worker/prod.yaml', import.meta.url), 'utf8');
  const result = await runBadConfig({
    ledgerServer: await sharedPostgres('ledger'),
    queueServer: await sharedPostgres('queue'),
    drillCatalog: makeDrillCatalog(rng, 10),
    seed: '11',
    rng,
    workDir: dir,
    progress: (line) => lines.push(line),
  });
  process.stderr.write(`${lines.map((l) => `# ${l}`).join('\n')}\n# ${result.summary}\n`);
  assert.deepEqual(result.violations, []);
  assert.equal(result.verdict, 'pass');
  assert.equal(result.measurements.invalidProblems, 3);
  assert.equal(result.measurements.invalidWorkerExitCode, 2);
  assert.equal(result.measurements.harmfulVerdict, 'fail');
  assert.equal(result.measurements.controlVerdict, 'pass');
  assert.equal(result.measurements.promoteRefused, true);
  assert.equal(result.measurements.controlPromoted, true);
  assert.ok(
    lines.some((l) =>
      /promote refused: FB_CONFIG_NOT_PROMOTABLE: worker: staging config sha256:.* failed its latest staging drill \(bad-config scenario, seed 11/.test(
        l,
      ),
    ),
  );

  const records = await readDrillRecords(join(dir, 'drill-records.jsonl'));
  assert.deepEqual(
    records.map((r) => [r.service, r.env, r.hash, r.verdict]),
    [
      ['worker', 'staging', result.measurements.harmfulHash, 'fail'],
      ['worker', 'staging', result.measurements.controlHash, 'pass'],
    ],
  );
  assert.equal(
    await readFile(new URL('../../config/worker/prod.yaml', import.meta.url), 'utf8'),
    repoProd,
    "the repository's own prod namespace is never touched",
  );
});
