// The pieces of the embedded stack the checkout bench needs, started one by
// one so each phase measures only what it is about: the queue and ledger
// Postgres servers, the sandbox provider and the API come up first; the
// worker only when the settle phase begins, so the accept phase measures
// accepting alone. (EmbeddedStack starts the worker at boot, which would
// drain the queue while we are still measuring the API.)

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../../src/catalog/index.ts';
import type { DrillCatalog } from '../../src/drill/drillCatalog.ts';
import { PostgresIntake } from '../../src/intake/PostgresIntake.ts';
import { Ledger } from '../../src/ledger/index.ts';
import { PostgresQueue } from '../../src/queue/PostgresQueue.ts';
import { PostgresServer } from '../../src/stack/postgresServer.ts';
import { ServiceProcess } from '../../src/stack/serviceProcess.ts';
import { enableStatementStats, STATEMENT_STATS_SETTINGS } from './statementStats.ts';

export interface BenchStackOptions {
  readonly drillCatalog: DrillCatalog;
  readonly logLevel: string;
  readonly workerConcurrency: number;
  /** Load pg_stat_statements into both servers (see statementStats.ts). */
  readonly statementStats: boolean;
  /** When set, the API and worker write V8 CPU profiles (--cpu-prof) into this directory on exit. */
  readonly cpuProfileDir?: string;
  readonly progress: (line: string) => void;
}

const entry = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export class BenchStack {
  readonly workDir: string;
  private readonly o: BenchStackOptions;
  queueServer: PostgresServer | undefined;
  ledgerServer: PostgresServer | undefined;
  queueUrl = '';
  ledgerUrl = '';
  psp: ServiceProcess | undefined;
  api: ServiceProcess | undefined;
  worker: ServiceProcess | undefined;
  private readonly services: ServiceProcess[] = [];
  private booting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(workDir: string, options: BenchStackOptions) {
    this.workDir = workDir;
    this.o = options;
  }

  /**
   * Makes the work directory only. The caller keeps the stack before booting it, so that
   * an interrupt during boot can stop whatever has started so far.
   */
  static async create(options: BenchStackOptions): Promise<BenchStack> {
    return new BenchStack(await mkdtemp(join(tmpdir(), 'firebreak-bench-')), options);
  }

  /** Starts both Postgres servers, migrates and seeds them, then the provider and the API. */
  async boot(): Promise<void> {
    this.booting ??= this.bootSteps();
    try {
      await this.booting;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Between boot steps: a stop() under way ends the boot. */
  private checkNotStopping(): void {
    if (this.stopping) throw new Error('the bench stack was stopped while booting');
  }

  private async bootSteps(): Promise<void> {
    const say = this.o.progress;
    say(`work dir ${this.workDir}; starting the queue and ledger Postgres servers`);
    const settings = this.o.statementStats ? STATEMENT_STATS_SETTINGS : {};
    // Each server is recorded as soon as it runs, so stop() finds it even if the other fails.
    const [queueServer, ledgerServer] = await Promise.all([
      PostgresServer.start({ name: 'bench-queue', settings }).then((server) => (this.queueServer = server)),
      PostgresServer.start({ name: 'bench-ledger', settings }).then((server) => (this.ledgerServer = server)),
    ]);
    this.checkNotStopping();
    this.queueUrl = await queueServer.createDatabase('queue');
    this.ledgerUrl = await ledgerServer.createDatabase('ledger');
    if (this.o.statementStats) {
      await Promise.all([enableStatementStats(this.queueUrl), enableStatementStats(this.ledgerUrl)]);
    }

    say('migrating the queue and ledger databases, seeding the catalog');
    const ledger = await Ledger.open({ databaseUrl: this.ledgerUrl });
    await ledger.seedCatalog(this.o.drillCatalog.catalog).finally(() => ledger.close());
    await (await PostgresQueue.open({ databaseUrl: this.queueUrl })).close();
    await (await PostgresIntake.open({ databaseUrl: this.queueUrl })).close();
    const catalogPath = join(this.workDir, 'catalog.json');
    await writeFile(catalogPath, JSON.stringify(this.o.drillCatalog.catalog));
    this.checkNotStopping();

    say('starting the sandbox provider (no faults, no latency) and the API');
    const pspDataDir = join(this.workDir, 'psp');
    await mkdir(pspDataDir, { recursive: true });
    this.psp = this.service('psp', '../../src/psp/main.ts', {
      PSP_DATA_DIR: pspDataDir,
      PSP_SEED: 'bench',
      PSP_LOG_LEVEL: this.o.logLevel,
    });
    this.api = this.service(
      'api',
      '../../src/api/main.ts',
      {
        QUEUE_DATABASE_URL: this.queueUrl,
        CATALOG_PATH: catalogPath,
        // Nobody uses the admin key here; the API insists on having one.
        ADMIN_KEY_SHA256: sha256(`bench-admin-${this.workDir}`),
      },
      true,
    );
    await Promise.all([this.psp.start(), this.api.start()]);
  }

  /** Starts the payment worker; it begins receiving before it reports ready. */
  async startWorker(): Promise<void> {
    this.worker = this.service(
      'worker',
      '../../src/worker/main.ts',
      {
        LEDGER_DATABASE_URL: this.ledgerUrl,
        QUEUE_DATABASE_URL: this.queueUrl,
        PSP_URL: `http://127.0.0.1:${String(this.psp?.ready.port)}`,
        WORKER_CONCURRENCY: String(this.o.workerConcurrency),
      },
      true,
    );
    await this.worker.start();
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${String(this.api?.ready.port)}`;
  }

  private service(name: string, path: string, env: Record<string, string>, profiled = false): ServiceProcess {
    const profile: Record<string, string> =
      profiled && this.o.cpuProfileDir
        ? {
            NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${this.o.cpuProfileDir} --cpu-prof-name=${name}.cpuprofile`,
          }
        : {};
    const svc = new ServiceProcess({
      name,
      entry: entry(path),
      env: { LOG_LEVEL: this.o.logLevel, ...env, ...profile },
      logFile: join(this.workDir, `${name}.log`),
    });
    this.services.push(svc);
    return svc;
  }

  /**
   * Stops every process (gracefully, so profiles get written), both servers, and removes the
   * work directory. A boot under way is let finish its current step first, so nothing it
   * starts is left behind.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.booting?.catch(() => {});
      await Promise.allSettled(this.services.map((s) => s.stop()));
      await Promise.allSettled([this.queueServer?.destroy(), this.ledgerServer?.destroy()]);
      await rm(this.workDir, { recursive: true, force: true });
    })();
    return this.stopping;
  }
}
