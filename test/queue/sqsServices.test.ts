// The services on SQS FIFO, end to end with real processes: the API, the
// worker, the scheduler (started and ready) and the sandbox provider as child
// processes with QUEUE_BACKEND=sqs, talking through the real AWS SDK over
// HTTP to the SQS model on loopback (sqsModelServer.ts; no SQS can run here),
// the intake and the ledger in real Postgres. The queue URLs are the ones AWS gives (https://sqs.us-east-1…):
// SQS_ENDPOINT must carry every call, so nothing works unless the SDK's
// useQueueUrlAsEndpoint stays out of the way. Also: bad queue configuration
// stops a service with exit code 2 and FB_CONFIG_INVALID naming the variable.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { audit } from '../../src/audit/auditor.ts';
import { sha256 } from '../../src/catalog/index.ts';
import { makeDrillCatalog } from '../../src/drill/drillCatalog.ts';
import { planTraffic, sendTraffic } from '../../src/drill/traffic.ts';
import { Ledger } from '../../src/ledger/index.ts';
import { SqsQueue } from '../../src/queue/SqsQueue.ts';
import { ServiceProcess } from '../../src/stack/serviceProcess.ts';
import { SeededRandom } from '../../src/util/seededRandom.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { SqsModelServer } from './sqsModelServer.ts';

const entry = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDFIREBREAKTEST', AWS_SECRET_ACCESS_KEY: 'not-a-secret' };
const CHECKOUTS = 50;
const CREATORS = 4;

/** Clean-ups run last-registered first (t.after runs in registration order): processes stop before the SQS model goes. */
function cleanups(t: TestContext): (fn: () => Promise<unknown> | void) => void {
  const fns: (() => Promise<unknown> | void)[] = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return (fn) => fns.push(fn);
}

async function sqsModel(later: ReturnType<typeof cleanups>) {
  const server = await SqsModelServer.start();
  later(() => server.close());
  const client = new SQSClient({
    region: 'us-east-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: 'not-a-secret' },
  });
  later(() => client.destroy());
  const queues = await SqsQueue.ensureQueues(client, { visibilityTimeoutSec: 30, maxReceiveCount: 3 });
  // The test's own view of the queues: a poison message in, the dead letters and counters out.
  const queue = SqsQueue.connect({ queueUrl: queues.queueUrl, dlqUrl: queues.dlqUrl, client });
  later(() => queue.close());
  return { server, queues, queue };
}

function service(
  later: ReturnType<typeof cleanups>,
  workDir: string,
  name: string,
  path: string,
  env: Record<string, string>,
) {
  const svc = new ServiceProcess({ name, entry: entry(path), env, logFile: join(workDir, `${name}.log`) });
  later(() => svc.stop());
  return svc;
}

async function rows<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

test(`API and worker on SQS FIFO: ${CHECKOUTS} checkouts over ${CREATORS} creators settle exactly once, in per-creator order, with SQS sequence numbers; a poison message is dead-lettered and audited from the SQS DLQ`, async (t) => {
  const later = cleanups(t);
  const workDir = await mkdtemp(join(tmpdir(), 'firebreak-sqs-'));
  later(() => rm(workDir, { recursive: true, force: true }));
  const { server, queues, queue } = await sqsModel(later);
  const rng = new SeededRandom('sqs-services');
  const drillCatalog = makeDrillCatalog(rng, CREATORS);
  const [ledgerUrl, intakeUrl] = await Promise.all([freshDatabase(), freshDatabase()]);
  const ledger = await Ledger.open({ databaseUrl: ledgerUrl });
  await ledger.seedCatalog(drillCatalog.catalog).finally(() => ledger.close());
  const catalogPath = join(workDir, 'catalog.json');
  await writeFile(catalogPath, JSON.stringify(drillCatalog.catalog));
  const pspDataDir = join(workDir, 'psp');

  const sqsEnv = {
    QUEUE_BACKEND: 'sqs',
    SQS_QUEUE_URL: queues.queueUrl,
    SQS_DLQ_URL: queues.dlqUrl,
    SQS_ENDPOINT: server.endpoint, // and no AWS_REGION: the endpoint's requests are signed for us-east-1
    ...CREDENTIALS,
  };
  assert.match(queues.queueUrl, /^https:\/\/sqs\.us-east-1\.amazonaws\.com\/.+\.fifo$/);

  const psp = service(later, workDir, 'psp', '../../src/psp/main.ts', {
    PSP_DATA_DIR: pspDataDir,
    PSP_SEED: 'sqs-services',
    PSP_DECLINE_RATE: '0.1',
  });
  const pspUrl = `http://127.0.0.1:${String((await psp.start()).port)}`;
  const api = service(later, workDir, 'api', '../../src/api/main.ts', {
    QUEUE_DATABASE_URL: intakeUrl,
    CATALOG_PATH: catalogPath,
    ADMIN_KEY_SHA256: sha256(`fba_${randomUUID()}`),
    ...sqsEnv,
  });
  const worker = service(later, workDir, 'worker', '../../src/worker/main.ts', {
    LEDGER_DATABASE_URL: ledgerUrl,
    QUEUE_DATABASE_URL: intakeUrl,
    PSP_URL: pspUrl,
    WORKER_CONCURRENCY: '8',
    QUEUE_VISIBILITY_TIMEOUT_SEC: '30',
    QUEUE_MAX_RECEIVE_COUNT: '3', // as the queue's RedrivePolicy: the worker checks they agree
    ...sqsEnv,
  });
  // The scheduler on SQS needs no queue database: it only sends renewals.
  const scheduler = service(later, workDir, 'scheduler', '../../src/scheduler/main.ts', {
    LEDGER_DATABASE_URL: ledgerUrl,
    ...sqsEnv,
  });
  const [apiReady, , schedulerReady] = await Promise.all([api.start(), worker.start(), scheduler.start()]);
  const apiUrl = `http://127.0.0.1:${String(apiReady.port)}`;
  // Its readiness reads the SQS queue's counters (GetQueueAttributes), as well as pinging the ledger.
  const readyz = await fetch(`http://127.0.0.1:${String(schedulerReady.adminPort)}/readyz`);
  assert.equal(readyz.status, 200, await readyz.text());

  // A message the worker cannot parse at the head of one creator's group: it must
  // go to the DLQ after 3 receives, and the creator's checkouts behind it still settle.
  const poisonId = randomUUID();
  const firstCreator = drillCatalog.catalog.creators[0]!.id;
  await queue.send({ groupId: firstCreator, dedupId: poisonId, body: '{"v":1,"not":"a checkout"}' });

  const planned = planTraffic(rng, drillCatalog, CHECKOUTS);
  const traffic = await sendTraffic({ apiUrl, planned, concurrency: 8 });
  assert.deepEqual(traffic.failed, []);
  assert.equal(traffic.accepted.length, CHECKOUTS);
  assert.ok(new Set(traffic.accepted.map((a) => a.creatorId)).size > 1, 'over several creators');
  // A client retry of one checkout is a replay: the intake answers, SQS deduplicates.
  const again = planned[0]!;
  const replay = await fetch(`${apiUrl}/v1/checkouts`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${again.apiKey}`,
      'idempotency-key': again.idempotencyKey,
      'content-type': 'application/json',
    },
    body: JSON.stringify(again.body),
  });
  assert.equal(replay.status, 202);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');

  const ledgerCount = async () =>
    Number((await rows<{ n: string }>(ledgerUrl, 'SELECT count(*) n FROM checkouts'))[0]?.n);
  // The model's counters are exact: an empty queue means every message was settled and deleted.
  const drained = async () => {
    const s = await queue.stats();
    return s.visible + s.inFlight === 0 && s.deadLettered === 1;
  };
  await waitFor(
    'every checkout in the ledger, the payment queue empty, the poison message in the DLQ',
    async () => (await ledgerCount()) === CHECKOUTS && (await drained()),
    { timeoutMs: 90_000, intervalMs: 200 },
  );

  const verdicts = await audit({
    ledgerUrl,
    queueUrl: intakeUrl,
    providerDataDir: pspDataDir,
    accepted: traffic.accepted,
    deadLetterQueue: queue,
  });
  assert.deepEqual(verdicts.violations, []);
  assert.equal(verdicts.charged + verdicts.declined, CHECKOUTS, 'each settled once');
  assert.ok(verdicts.declined > 0 && verdicts.charged > 0, 'the provider charged some and declined some');
  assert.equal(verdicts.lost, 0);
  assert.equal(verdicts.doubleCharged, 0);
  assert.equal(verdicts.outOfOrder, 0);
  assert.equal(verdicts.deadLettered, 1, 'the poison message, read from the SQS DLQ');
  assert.equal((await queue.listDeadLetters(10))[0]?.dedupId, poisonId);

  // SQS's 128-bit sequence numbers, recorded by the API in the intake and by the worker in the ledger.
  const intake = await rows<{ checkout_id: string; queue_sequence: string | null; status: string }>(
    intakeUrl,
    'SELECT checkout_id, queue_sequence::text, status FROM checkout_intake',
  );
  const booked = new Map(
    (
      await rows<{ id: string; queue_sequence: string }>(
        ledgerUrl,
        'SELECT id, queue_sequence::text FROM checkouts',
      )
    ).map((r) => [r.id, r.queue_sequence]),
  );
  assert.equal(intake.length, CHECKOUTS);
  for (const r of intake) {
    assert.ok(
      r.queue_sequence !== null && BigInt(r.queue_sequence) >= 2n ** 64n,
      `${r.checkout_id}: 128-bit`,
    );
    assert.equal(
      booked.get(r.checkout_id),
      r.queue_sequence,
      `${r.checkout_id}: the ledger has the intake's`,
    );
    assert.ok(['charged', 'declined'].includes(r.status), `${r.checkout_id}: the intake mirrors the outcome`);
  }
  // The generic path (record, SQS send, markQueued) ran; the queue database's own queue stayed empty.
  assert.ok(server.count('SendMessage') >= CHECKOUTS + 1, 'each checkout went to SQS (and the poison)');
  const pgQueue = await rows<{ n: string }>(intakeUrl, 'SELECT count(*) n FROM queue_message');
  assert.equal(pgQueue[0]?.n, '0');
  // The environment fence stamped both queues (a dev process adopts loopback resources).
  assert.ok(server.count('TagQueue') >= 2 && server.count('ListQueueTags') >= 2, 'the fence checked SQS');

  // `firebreak dlq list` on SQS finds the poison message.
  const cli = await run(entry('../../src/cli/main.ts'), ['dlq', 'list', '--json'], sqsEnv);
  assert.equal(cli.code, 0, cli.stderr);
  const letters = JSON.parse(cli.stdout) as { dedupId: string; groupId: string }[];
  assert.deepEqual(
    letters.map((l) => [l.dedupId, l.groupId]),
    [[poisonId, firstCreator]],
  );
});

function run(file: string, args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', file, ...args],
      // Only what is given: no QUEUE_* or AWS_* from the test's own environment.
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/checkout-payments.fifo';
const DLQ = 'https://sqs.us-east-1.amazonaws.com/123456789012/checkout-payments-dlq.fifo';
const DB = 'postgres://firebreak@127.0.0.1:1/queue';

const badConfigs: [string, string, Record<string, string>, RegExp][] = [
  [
    'the API with QUEUE_BACKEND=sqs and no SQS_QUEUE_URL',
    '../../src/api/main.ts',
    {
      QUEUE_DATABASE_URL: DB,
      CATALOG_PATH: '/nonexistent/catalog.json',
      ADMIN_KEY_SHA256: sha256('x'),
      QUEUE_BACKEND: 'sqs',
      SQS_DLQ_URL: DLQ,
      AWS_REGION: 'us-east-1',
    },
    /^FB_CONFIG_INVALID: invalid API configuration: SQS_QUEUE_URL is required when QUEUE_BACKEND=sqs/,
  ],
  [
    'the worker with a queue URL that is not a FIFO queue',
    '../../src/worker/main.ts',
    {
      LEDGER_DATABASE_URL: DB,
      QUEUE_DATABASE_URL: DB,
      PSP_URL: 'http://127.0.0.1:1',
      QUEUE_BACKEND: 'sqs',
      SQS_QUEUE_URL: QUEUE.replace('.fifo', ''),
      SQS_DLQ_URL: DLQ,
      AWS_REGION: 'us-east-1',
    },
    /^FB_CONFIG_INVALID: worker: invalid configuration: SQS_QUEUE_URL: must be the URL of a FIFO queue/,
  ],
  [
    'the scheduler on SQS with neither AWS_REGION nor SQS_ENDPOINT',
    '../../src/scheduler/main.ts',
    { LEDGER_DATABASE_URL: DB, QUEUE_BACKEND: 'sqs', SQS_QUEUE_URL: QUEUE, SQS_DLQ_URL: DLQ },
    /^FB_CONFIG_INVALID: scheduler: invalid configuration: AWS_REGION: is required when QUEUE_BACKEND=sqs/,
  ],
  [
    'the API with an unknown backend',
    '../../src/api/main.ts',
    {
      QUEUE_DATABASE_URL: DB,
      CATALOG_PATH: '/nonexistent/catalog.json',
      ADMIN_KEY_SHA256: sha256('x'),
      QUEUE_BACKEND: 'rabbitmq',
    },
    /^FB_CONFIG_INVALID: invalid API configuration: QUEUE_BACKEND must be postgres or sqs/,
  ],
];

test('bad queue configuration exits 2 with FB_CONFIG_INVALID naming the variable, before anything is opened', async () => {
  // One at a time: each is a whole Node process on a shared machine.
  for (const [name, path, env, message] of badConfigs) {
    const r = await run(entry(path), [], env);
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
  }
});

test('a worker whose QUEUE_MAX_RECEIVE_COUNT disagrees with the SQS queue, or whose queue does not exist, exits 2', async (t) => {
  const { server, queues } = await sqsModel(cleanups(t));
  const env = {
    LEDGER_DATABASE_URL: DB,
    QUEUE_DATABASE_URL: DB,
    PSP_URL: 'http://127.0.0.1:1',
    QUEUE_BACKEND: 'sqs',
    SQS_QUEUE_URL: queues.queueUrl,
    SQS_DLQ_URL: queues.dlqUrl,
    SQS_ENDPOINT: server.endpoint,
    ...CREDENTIALS,
  };
  const mismatch = await run(entry('../../src/worker/main.ts'), [], { ...env, QUEUE_MAX_RECEIVE_COUNT: '5' });
  assert.equal(mismatch.code, 2, mismatch.stderr);
  assert.match(
    mismatch.stderr,
    /^FB_CONFIG_INVALID: QUEUE_MAX_RECEIVE_COUNT is 5 but the SQS queue .* after 3 receives/m,
  );
  const missing = await run(entry('../../src/worker/main.ts'), [], {
    ...env,
    SQS_QUEUE_URL: queues.queueUrl.replace('checkout-payments.fifo', 'no-such-queue.fifo'),
  });
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /^FB_CONFIG_INVALID: SqsQueue options: queueUrl names no existing queue/m);
});
