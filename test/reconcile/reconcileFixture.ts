// Real parts for the reconciler's tests: the sandbox provider as a process, a
// migrated ledger on a real Postgres server, and checkouts booked the way the
// worker books them (capture at the provider with the checkout's key, then
// Ledger.commit), so every ledger row has its true provider result.

import type { TestContext } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Registry } from 'prom-client';
import type { CheckoutMessage } from '../../src/checkout/checkoutMessage.ts';
import { Ledger } from '../../src/ledger/index.ts';
import type { ProviderOutcome } from '../../src/ledger/commitOutcome.ts';
import {
  HttpProvider,
  SandboxControl,
  startSandboxProcess,
  type SandboxProcess,
} from '../../src/psp/index.ts';
import {
  ProviderRecordClient,
  Reconciler,
  providerKeyOf,
  type ReconcilerOptions,
} from '../../src/reconcile/index.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { makeTestCatalog } from '../helpers/catalog.ts';

export const READ_KEY = 'reconciler-read-key-for-tests';

export interface ReconcileFixture {
  readonly ledger: Ledger;
  readonly ledgerUrl: string;
  readonly psp: SandboxProcess;
  readonly control: SandboxControl;
  readonly dataDir: string;
  readonly catalog: ReturnType<typeof makeTestCatalog>['catalog'];
  /** A client of its own for tampering (owner, like the nightly job). */
  readonly owner: pg.Client;
  /** Books one checkout as the worker would; `decline` makes the provider decline it. */
  book(over?: Partial<CheckoutMessage> & { decline?: boolean }): Promise<CheckoutMessage>;
  reconciler(options?: Partial<ReconcilerOptions>): { reconciler: Reconciler; registry: Registry };
  /** Sum of a metric's samples (optionally of one label value). */
  metric(registry: Registry, name: string, labels?: Record<string, string>): Promise<number>;
}

export async function reconcileFixture(t: TestContext): Promise<ReconcileFixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'firebreak-reconcile-psp-'));
  const psp = await startSandboxProcess({ dataDir, seed: 'reconcile-tests', controlKey: READ_KEY });
  const control = new SandboxControl(psp.baseUrl, READ_KEY);
  const ledgerUrl = await freshDatabase();
  const ledger = await Ledger.open({ databaseUrl: ledgerUrl });
  const { catalog } = makeTestCatalog(2);
  await ledger.seedCatalog(catalog);
  const owner = new pg.Client({ connectionString: ledgerUrl });
  owner.on('error', () => {});
  await owner.connect();
  const provider = new HttpProvider({ baseUrl: psp.baseUrl, timeoutMs: 5_000 });
  const reconcilers: Reconciler[] = [];
  t.after(async () => {
    await Promise.allSettled(reconcilers.map((r) => r.stop()));
    await owner.end();
    await ledger.close();
    await psp.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  let sequence = 0;
  return {
    ledger,
    ledgerUrl,
    psp,
    control,
    dataDir,
    catalog,
    owner,
    async book(over = {}) {
      const { decline = false, ...fields } = over;
      const m: CheckoutMessage = {
        v: 1,
        checkoutId: randomUUID(),
        creatorId: catalog.creators[0]!.id,
        customerRef: `cus_${++sequence}`,
        planId: null,
        amountMinor: '1999',
        currency: 'EUR',
        acceptedAt: new Date().toISOString(),
        ...fields,
      };
      if (decline) await control.setFaults({ declineRate: 1 });
      const result = await provider
        .capture({
          idempotencyKey: providerKeyOf(m.checkoutId),
          checkoutId: m.checkoutId,
          creatorId: m.creatorId,
          customerRef: m.customerRef,
          amountMinor: BigInt(m.amountMinor),
          currency: m.currency,
        })
        .finally(() => (decline ? control.setFaults({ declineRate: 0 }) : undefined));
      const outcome: ProviderOutcome =
        result.outcome === 'captured'
          ? { kind: 'captured', captureId: result.captureId }
          : { kind: 'declined', providerRef: result.captureId, declineCode: result.declineCode };
      await ledger.commit({ message: m, queueSequence: BigInt(sequence), receiveCount: 1, outcome });
      return m;
    },
    reconciler(options = {}) {
      const registry = new Registry();
      const reconciler = new Reconciler({
        ledger,
        provider: new ProviderRecordClient({ baseUrl: psp.baseUrl, readKey: READ_KEY }),
        registry,
        repairedBy: 'reconciler under test',
        intervalMs: 200,
        ...options,
      });
      reconcilers.push(reconciler);
      return { reconciler, registry };
    },
    async metric(registry, name, labels = {}) {
      const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
      return values
        .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
        .reduce((s, v) => s + v.value, 0);
    },
  };
}

/**
 * Runs `sql` as the owner with every trigger of the session off, the way a
 * careless operator gets past a guard (session_replication_role = replica
 * needs a superuser, as the embedded server's owner is). One transaction.
 */
export async function tamper(owner: pg.Client, sql: string, values: unknown[] = []): Promise<number> {
  await owner.query('BEGIN');
  try {
    await owner.query(`SET LOCAL session_replication_role = replica`);
    const res = await owner.query(sql, values);
    await owner.query('COMMIT');
    return res.rowCount ?? 0;
  } catch (err) {
    await owner.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export interface CheckoutRowView {
  status: string;
  retry: boolean;
  provider_ref: string;
}

export async function checkoutRow(db: pg.Client | pg.Pool, id: string): Promise<CheckoutRowView | undefined> {
  return (
    await db.query<CheckoutRowView>(`SELECT status, retry, provider_ref FROM checkouts WHERE id = $1`, [id])
  ).rows[0];
}
