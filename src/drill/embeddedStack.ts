// The embedded default stack: everything a drill needs with nothing but Node.
// Two throwaway Postgres servers (ledger, and the queue on its own server so
// the two do not share fate), and the provider, API and worker as separate
// processes. Everything lives under one work directory that stop() removes.
// Events: the outbox relay is a 4th process; its event bus is the Kafka peer
// (librdkafka's mock cluster via kcat) when kcat is on the PATH, else the
// append-only file sink; `eventBusMode` says which.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../catalog/index.ts';
import { Ledger } from '../ledger/index.ts';
import { PostgresQueue } from '../queue/PostgresQueue.ts';
import { PostgresIntake } from '../intake/PostgresIntake.ts';
import { PostgresServer } from '../stack/postgresServer.ts';
import { RedisServer } from '../stack/redisServer.ts';
import { ServiceProcess } from '../stack/serviceProcess.ts';
import { fbError } from '../errors/index.ts';
import type { SeededRandom } from '../util/seededRandom.ts';
import type { PublishedEvent } from '../eventBus/EventBus.ts';
import { readEventFile } from '../eventBus/FileEventBus.ts';
import { KcatMockCluster, kcatAvailable } from '../eventBus/kcatMockCluster.ts';
import { FaultProxy, urlThroughProxy } from '../faults/faultProxy.ts';
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
  /** Where events go: 'auto' (default) is Kafka (kcat) when kcat is on the PATH, else the file sink. */
  readonly eventBus?: 'auto' | 'kafka' | 'file';
  /** Start a Redis server (Debian's redis-server) and give the API its URL (REDIS_URL) for cached reads. */
  readonly redis?: boolean;
  readonly onProgress?: (message: string) => void;
}

const entry = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export class EmbeddedStack {
  readonly options: EmbeddedStackOptions;
  ledgerServer: PostgresServer | undefined;
  queueServer: PostgresServer | undefined;
  /** The ledger, directly: for set-up, the auditor and scenarios' own reads. */
  ledgerUrl = '';
  /**
   * The ledger as the services (worker, relay, scheduler) reach it: through
   * ledgerProxy, so any scenario can slow, hold or reset their connections
   * (src/faults/faultProxy.ts) while the auditor still reads it directly.
   */
  serviceLedgerUrl = '';
  ledgerProxy: FaultProxy | undefined;
  queueUrl = '';
  readonly pspDataDir: string;
  readonly pspControlKey: string;
  readonly adminKey: string;
  readonly services: ServiceProcess[] = [];
  psp: ServiceProcess | undefined;
  api: ServiceProcess | undefined;
  worker: ServiceProcess | undefined;
  scheduler: ServiceProcess | undefined;
  readonly schedulerClockKey: string;
  /**
   * How the ledger survives its primary dying: 'restart' (crash recovery of
   * the same server), 'standby' (promote a streaming standby) or 'patroni'.
   * Every drill report says which ran.
   */
  failoverMode: 'restart' | 'standby' | 'patroni' = 'restart';
  /** How far the scheduler's clock runs ahead of the wall clock (setSchedulerClockOffset). */
  schedulerClockOffsetMs = 0;
  // --- events (src/outbox, src/eventBus) ---
  relay: ServiceProcess | undefined;
  eventBusMode: 'kafka' | 'file' = 'file';
  kafka: KcatMockCluster | undefined;
  readonly eventFile: string;
  readonly eventTopic = 'checkout-events';
  // --- cache (src/cache) ---
  redisServer: RedisServer | undefined;
  redisUrl = '';

  private constructor(options: EmbeddedStackOptions) {
    this.options = options;
    this.pspDataDir = join(options.workDir, 'psp');
    this.pspControlKey = `ctl_${options.rng.token(24)}`;
    this.adminKey = `fba_${options.rng.token(32)}`;
    this.schedulerClockKey = `clk_${options.rng.token(24)}`;
    this.eventFile = join(options.workDir, 'events', 'checkout-events.jsonl');
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
    this.ledgerProxy = await FaultProxy.start({
      name: 'ledger',
      upstream: { host: '127.0.0.1', port: this.ledgerServer.port },
    });
    this.serviceLedgerUrl = urlThroughProxy(this.ledgerUrl, this.ledgerProxy.address);
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

    const want = o.eventBus ?? 'auto';
    this.eventBusMode = want === 'auto' ? (kcatAvailable() ? 'kafka' : 'file') : want;
    if (want === 'kafka' && !kcatAvailable())
      throw fbError(
        'FB_DEPENDENCY_MISSING',
        'this drill needs the Kafka peer, but kcat is not on the PATH. Install it with "apt-get install kcat".',
      );
    if (o.redis) {
      this.progress('starting Redis (cache)');
      this.redisServer = await RedisServer.start({ name: 'cache' });
      this.redisUrl = this.redisServer.url();
    }
    if (this.eventBusMode === 'kafka') {
      this.progress('starting the Kafka peer (librdkafka mock cluster via kcat)');
      this.kafka = await KcatMockCluster.start({ logFile: join(o.workDir, 'kafka.log') });
    } else {
      this.progress(`events go to the file sink ${this.eventFile} (kcat is not on the PATH)`);
    }

    this.progress('starting the sandbox provider, API, relay and worker processes');
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
      ...(this.redisUrl ? { REDIS_URL: this.redisUrl } : {}),
    });
    this.relay = this.service('relay', '../outbox/main.ts', this.relayEnv());
    await Promise.all([this.psp.start(), this.api.start(), this.relay.start()]);
    this.worker = this.service('worker', '../worker/main.ts', this.workerEnv());
    this.scheduler = this.service('scheduler', '../scheduler/main.ts', {
      LEDGER_DATABASE_URL: this.serviceLedgerUrl,
      QUEUE_DATABASE_URL: this.queueUrl,
      // A drill bills renewals in seconds (with the clock moved forward): look for due ones often.
      SCHEDULER_INTERVAL_MS: '500',
      SCHEDULER_CLOCK_CONTROL_KEY: this.schedulerClockKey,
    });
    await Promise.all([this.worker.start(), this.scheduler.start()]);
  }

  workerEnv(): Record<string, string> {
    return {
      LEDGER_DATABASE_URL: this.serviceLedgerUrl,
      QUEUE_DATABASE_URL: this.queueUrl,
      PSP_URL: this.pspUrl,
      QUEUE_VISIBILITY_TIMEOUT_SEC: String(this.options.visibilityTimeoutSec),
      QUEUE_MAX_RECEIVE_COUNT: String(this.options.maxReceiveCount),
      WORKER_CONCURRENCY: String(this.options.workerConcurrency),
    };
  }

  relayEnv(): Record<string, string> {
    return {
      LEDGER_DATABASE_URL: this.serviceLedgerUrl,
      EVENT_BUS: this.eventBusMode,
      ...(this.kafka ? { KAFKA_BROKERS: this.kafka.bootstrap } : { EVENT_FILE: this.eventFile }),
      EVENT_TOPIC: this.eventTopic,
      // The mock cluster cannot declare topics and auto-creates them with 4 partitions: declare what it makes.
      EVENT_TOPIC_PARTITIONS: '4',
      // A drill measures recovery in seconds: retry a returning broker at least every 2 s.
      RELAY_RETRY_MAX_MS: '2000',
      RELAY_PUBLISH_TIMEOUT_MS: '5000',
    };
  }

  /** Everything the event bus holds on the events topic, in bus order (the audit's read). */
  async readEvents(): Promise<PublishedEvent[]> {
    return this.kafka
      ? this.kafka.readTopic(this.eventTopic)
      : readEventFile(this.eventFile, this.eventTopic);
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

  /** Moves the renewal scheduler's clock forward to now + offsetMs (drills only; never backwards). */
  async setSchedulerClockOffset(offsetMs: number): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${String(this.scheduler?.ready.adminPort)}/v1/admin/clock`, {
      method: 'PUT',
      headers: { 'x-control-key': this.schedulerClockKey, 'content-type': 'application/json' },
      body: JSON.stringify({ offsetMs }),
    });
    if (!res.ok) throw new Error(`scheduler clock control refused (${res.status}): ${await res.text()}`);
    this.schedulerClockOffsetMs = offsetMs;
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

  /** SIGKILLs the ledger primary, as a crashed host would (scenario primary-kill). */
  async killLedgerPrimary(): Promise<void> {
    await this.ledgerServer?.kill();
  }

  /**
   * Brings the ledger back after killLedgerPrimary and resolves once it takes
   * connections again; idempotent. In 'restart' mode that is crash recovery of
   * the same server on the same port. The standby/Patroni modes fill this in
   * with promotion: point ledgerProxy at the new primary (setUpstream) so the
   * services follow it without a restart, and update ledgerUrl for the auditor.
   */
  async ledgerFailover(): Promise<'restart' | 'standby' | 'patroni'> {
    await this.ledgerServer?.resume();
    return this.failoverMode;
  }

  /** Stops every process and server and removes the work directory unless keep is set. */
  async stop({ keepWorkDir = false }: { keepWorkDir?: boolean } = {}): Promise<void> {
    await Promise.allSettled(this.services.map((s) => s.stop()));
    await this.kafka?.stop();
    await this.ledgerProxy?.close();
    await this.redisServer?.destroy().catch(() => {});
    await Promise.allSettled([this.ledgerServer?.destroy(), this.queueServer?.destroy()]);
    if (!keepWorkDir) await rm(this.options.workDir, { recursive: true, force: true });
  }
}
