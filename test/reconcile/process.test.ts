// The provider's read API the reconciler uses, and the reconciler as a process:
// the sandbox and the reconciler are real child processes, the ledger a real
// Postgres database.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProviderRecordClient, ProviderRecordMirror, providerKeyOf } from '../../src/reconcile/index.ts';
import { ServiceProcess } from '../../src/stack/serviceProcess.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { READ_KEY, checkoutRow, reconcileFixture, tamper } from './reconcileFixture.ts';

const MAIN = fileURLToPath(new URL('../../src/reconcile/main.ts', import.meta.url));

test("the provider's record over HTTP: pages from an offset, a lookup by key, and refusals", async (t) => {
  const f = await reconcileFixture(t);
  const booked = [await f.book(), await f.book({ decline: true }), await f.book()];
  const client = new ProviderRecordClient({ baseUrl: f.psp.baseUrl, readKey: READ_KEY });

  const first = await client.page(0, 2);
  assert.equal(first.total, 3);
  assert.equal(first.nextOffset, 2);
  assert.deepEqual(
    first.results.map((r) => r.checkoutId),
    booked.slice(0, 2).map((m) => m.checkoutId),
  );
  const rest = await client.page(2, 2);
  assert.deepEqual(
    rest.results.map((r) => r.checkoutId),
    [booked[2]!.checkoutId],
  );
  assert.equal(rest.nextOffset, 3);
  assert.equal((await client.page(3, 10)).results.length, 0);

  const declined = await client.lookup(providerKeyOf(booked[1]!.checkoutId));
  assert.equal(declined?.status, 'declined');
  assert.equal(typeof declined?.declineCode, 'string');
  assert.equal(declined?.amountMinor, 1999n);
  assert.equal(await client.lookup('checkout-not-a-key-anyone-used'), null);

  const get = (path: string, key?: string) =>
    fetch(`${f.psp.baseUrl}${path}`, { headers: key ? { 'x-control-key': key } : {} });
  const bad = await get('/v1/captures?offset=-1', READ_KEY);
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'PSP_INVALID_REQUEST');
  assert.equal((await get('/v1/captures?limit=0', READ_KEY)).status, 400);
  assert.equal((await get('/v1/captures?offset=1&sort=x', READ_KEY)).status, 400);
  assert.equal((await get(`/v1/captures/${providerKeyOf(booked[0]!.checkoutId)}`)).status, 401);
  await assert.rejects(
    new ProviderRecordClient({ baseUrl: f.psp.baseUrl, readKey: 'wrong-key-wrong-key' }).page(0, 1),
    /answered GET \/v1\/captures\?offset=0&limit=1 with 401/,
  );
  // Without paging the whole record comes back, as before.
  const all = (await (await get('/v1/captures', READ_KEY)).json()) as { captures: unknown[] };
  assert.equal(all.captures.length, 3);

  // The mirror fetches only what is new.
  const mirror = new ProviderRecordMirror(client, 2);
  assert.equal(await mirror.refresh(), 3);
  assert.equal(await mirror.refresh(), 0);
  await f.book();
  assert.equal(await mirror.refresh(), 1);
  assert.equal(mirror.size, 4);
});

test('the reconciler process: ready over IPC, health and metrics on its admin port, repairs a rewrite', async (t) => {
  const f = await reconcileFixture(t);
  const m = await f.book();
  const truth = await checkoutRow(f.owner, m.checkoutId);
  const workDir = await mkdtemp(join(tmpdir(), 'firebreak-reconciler-'));
  const svc = new ServiceProcess({
    name: 'reconciler',
    entry: MAIN,
    env: {
      LEDGER_DATABASE_URL: f.ledgerUrl,
      PSP_URL: f.psp.baseUrl,
      PSP_READ_KEY: READ_KEY,
      RECONCILER_INTERVAL_MS: '200',
      LOG_LEVEL: 'info',
    },
    logFile: join(workDir, 'reconciler.log'),
  });
  t.after(async () => {
    await svc.stop();
    await rm(workDir, { recursive: true, force: true });
  });
  const ready = await svc.start();
  const admin = `http://127.0.0.1:${String(ready.adminPort)}`;
  assert.equal((await fetch(`${admin}/livez`)).status, 200);
  assert.equal((await fetch(`${admin}/readyz`)).status, 200);
  const scrape = async () => (await fetch(`${admin}/metrics`)).text();
  assert.match(await scrape(), /^ledger_tampering_detected_total\{kind="checkout_status"\} 0$/m);

  await tamper(f.owner, `UPDATE checkouts SET status = 'failed', retry = true WHERE id = $1`, [m.checkoutId]);
  await waitFor('the alert counter', async () =>
    /^ledger_tampering_detected_total\{kind="checkout_status"\} 1$/m.test(await scrape()),
  );
  assert.deepEqual(await checkoutRow(f.owner, m.checkoutId), truth);
  assert.match(await scrape(), /^ledger_reconciliation_repairs_total 1$/m);
  await svc.stop();
  const log = await readFile(join(workDir, 'reconciler.log'), 'utf8');
  assert.match(log, /ledger tampering detected/);
  assert.match(log, /ledger rows restored from the provider record/);
});

test('bad configuration: exit code 2 and a message naming the variable', async () => {
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [MAIN],
      { env: { PATH: process.env.PATH, LEDGER_DATABASE_URL: 'not a url', PSP_URL: 'http://127.0.0.1:1' } },
      (err, _stdout, stderr) => resolve({ code: err ? (err.code as number) : 0, stderr }),
    );
  });
  assert.equal(code, 2);
  assert.match(
    stderr,
    /^FB_CONFIG_INVALID: reconciler: invalid configuration: .*LEDGER_DATABASE_URL: must be a URL/m,
  );
  assert.match(stderr, /PSP_READ_KEY/);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
});
