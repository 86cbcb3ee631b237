// The embedded default stack: everything a drill needs with nothing but Node.
// Two throwaway Postgres servers (ledger, and the queue on its own server so
// the two do not share fate), and the provider, API and worker as separate
// processes. Everything lives under one work directory that stop() removes.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../catalog/index.ts';
import { Ledger } from '../ledger/index.ts';
import { PostgresQueue } from '../queue/PostgresQueue.ts';
import { PostgresIntake } from '../intake/PostgresIntake.ts';
import { PostgresServer } from '../stack/postgresServer.ts';
import { ServiceProcess } from '../stack/serviceProcess.ts';
import type { SeededRandom } from '../util/seededRandom.ts';
import type { DrillCatalog } from './drillCatalog.ts';

export interface ProviderFaults {
  readonly declineRate: number;
  readonly errorRate: number;
  readonly errorAfterCaptureRate: number;
  readonly latencyMs: number;
}

export interface EmbeddedStackOptions {
  readonly workDir: string;
  readonly drillCatalog: DrillCatalog;
  readonly rng: SeededRandom;
  readonly seed: string;
  readonly visibilityTimeoutSec: number;
  readonly maxReceiveCount: number;
  readonly workerConcurrency: number;
  readonly providerFaults: ProviderFaults;
  readonly onProgress?: (message: string) => void;
}

const entry = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export class EmbeddedStack {
  readonly options: EmbeddedStackOptions;
  ledgerServer: PostgresServer | undefined;
  queueServer: PostgresServer | undefined;
  ledgerUrl = '';
  queueUrl = '';
  readonly pspDataDir: string;
  readonly pspControlKey: string;
  readonly adminKey: string;
  readonly services: ServiceProcess[] = [];
  psp: ServiceProcess | undefined;
  api: ServiceProcess | undefined;
  worker: ServiceProcess | undefined;

  private constructor(options: EmbeddedStackOptions) {
    this.options = options;
    this.pspDataDir = join(options.workDir, 'psp');
    this.pspControlKey = `ctl_${options.rng.token(24)}`;
    this.adminKey = `fba_${options.rng.token(32)}`;
  }

  static async start(options: EmbeddedStackOptions): Promise<EmbeddedStack> {
    const stack = new EmbeddedStack(options);
    try {
      await stack.boot();
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  }

  private progress(message: string): void {
    this.options.onProgress?.(message);
  }

  private async boot(): Promise<void> {
    const o = this.options;
    await mkdir(this.pspDataDir, { recursive: true });
    this.progress('starting Postgres servers (ledger, queue)');
    [this.ledgerServer, this.queueServer] = await Promise.all([
      PostgresServer.start({ name: 'ledger' }),
      PostgresServer.start({ name: 'queue' }),
    ]);
    this.ledgerUrl = await this.ledgerServer.createDatabase('ledger');
    this.queueUrl = await this.queueServer.createDatabase('queue');

    this.progress('migrating the ledger and queue databases, seeding the catalog');
    const ledger = await Ledger.open({ databaseUrl: this.ledgerUrl });
    await ledger.seedCatalog(o.drillCatalog.catalog).finally(() => ledger.close());
    const queue = await PostgresQueue.open({ databaseUrl: this.queueUrl });
    await queue.close();
    const intake = await PostgresIntake.open({ databaseUrl: this.queueUrl });
    await intake.close();
    const catalogPath = join(o.workDir, 'catalog.json');
    await writeFile(catalogPath, JSON.stringify(o.drillCatalog.catalog, null, 2));

    this.progress('starting the sandbox provider, API and worker processes');
    this.psp = this.service('psp', '../psp/main.ts', {
      PSP_DATA_DIR: this.pspDataDir,
      PSP_SEED: o.seed,
      PSP_CONTROL_KEY: this.pspControlKey,
      PSP_DECLINE_RATE: String(o.providerFaults.declineRate),
      PSP_ERROR_RATE: String(o.providerFaults.errorRate),
      PSP_ERROR_AFTER_CAPTURE_RATE: String(o.providerFaults.errorAfterCaptureRate),
      PSP_LATENCY_MS: String(o.providerFaults.latencyMs),
    });
    this.api = this.service('api', '../api/main.ts', {
      QUEUE_DATABASE_URL: this.queueUrl,
      CATALOG_PATH: catalogPath,
      ADMIN_KEY_SHA256: sha256(this.adminKey),
    });
    await Promise.all([this.psp.start(), this.api.start()]);
    this.worker = this.service('worker', '../worker/main.ts', this.workerEnv());
    await this.worker.start();
  }

  workerEnv(): Record<string, string> {
    return {
      LEDGER_DATABASE_URL: this.ledgerUrl,
      QUEUE_DATABASE_URL: this.queueUrl,
      PSP_URL: this.pspUrl,
      QUEUE_VISIBILITY_TIMEOUT_SEC: String(this.options.visibilityTimeoutSec),
      QUEUE_MAX_RECEIVE_COUNT: String(this.options.maxReceiveCount),
      WORKER_CONCURRENCY: String(this.options.workerConcurrency),
    };
  }

  private service(name: string, path: string, env: Record<string, string>): ServiceProcess {
    const svc = new ServiceProcess({
      name,
      entry: entry(path),
      env: { LOG_LEVEL: 'info', ...env },
      logFile: join(this.options.workDir, `${name}.log`),
    });
    this.services.push(svc);
    return svc;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${String(this.api?.ready.port)}`;
  }

  get apiAdminUrl(): string {
    return `http://127.0.0.1:${String(this.api?.ready.adminPort)}`;
  }

  get pspUrl(): string {
    return `http://127.0.0.1:${String(this.psp?.ready.port)}`;
  }

  /** Switches the provider's faults at run time. */
  async setProviderFaults(faults: Partial<ProviderFaults> & { outage?: boolean }): Promise<void> {
    const res = await fetch(`${this.pspUrl}/control`, {
      method: 'PUT',
      headers: { 'x-control-key': this.pspControlKey, 'content-type': 'application/json' },
      body: JSON.stringify(faults),
    });
    if (!res.ok) throw new Error(`provider control refused (${res.status}): ${await res.text()}`);
  }

  /** Stops every process and server and removes the work directory unless keep is set. */
  async stop({ keepWorkDir = false }: { keepWorkDir?: boolean } = {}): Promise<void> {
    await Promise.allSettled(this.services.map((s) => s.stop()));
    await Promise.allSettled([this.ledgerServer?.destroy(), this.queueServer?.destroy()]);
    if (!keepWorkDir) await rm(this.options.workDir, { recursive: true, force: true });
  }
}
