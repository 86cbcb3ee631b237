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
import { SERVICE_SPECS, isServiceName, type ServiceName } from '../config/services/index.ts';
import type { SeededRandom } from '../util/seededRandom.ts';
import type { PublishedEvent } from '../eventBus/EventBus.ts';
import { readEventFile } from '../eventBus/FileEventBus.ts';
import { KcatMockCluster, kcatAvailable } from '../eventBus/kcatMockCluster.ts';
import { FaultProxy, urlThroughProxy } from '../faults/faultProxy.ts';
import { degradeToAsync, startStandby } from '../stack/streamingStandby.ts';
import { failOverLedger, type LedgerFailoverResult } from '../stack/ledgerFailover.ts';
import { stampDatabase } from '../stack/environmentStamp.ts';
import { Fence, isRefusal, parseResourceUrl, refusalError, stampedBy } from '../guardrails/fence/index.ts';
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
  /**
   * Config namespace files (config/<service>/<env>.yaml) to run services
   * with: each named service gets FIREBREAK_CONFIG and none of the stack's
   * own tunable variables, so it runs exactly the file's tunables.
   */
  readonly configFiles?: Readonly<Partial<Record<ServiceName, string>>>;
  readonly onProgress?: (message: string) => void;
  // --- the disposable stack (src/stack, `firebreak up`) ---
  /** Run the ledger with a synchronous streaming standby; failoverMode becomes 'standby'. */
  readonly ledgerStandby?: boolean;
  /** Where the Postgres servers' directories go (default: the OS temp directory). */
  readonly serverParentDir?: string;
  /**
   * Stamp the databases, Redis and Kafka for this environment and run every service as it
   * (FIREBREAK_ENV). Default 'staging': a drill is staging burning, and the fence proves it stays there.
   */
  readonly environment?: string;
  /** Boot from restored data directories (src/stack/snapshot) instead of empty servers. */
  readonly restore?: RestoredStores;
}

export interface RestoredStores {
  /** Server directories holding data/ with backup_label and recovery settings, ready to recover. */
  readonly ledgerRoot: string;
  readonly queueRoot: string;
  /** Runs once both servers have started, before anything (migrations included) writes to them. */
  readonly verify: (stack: EmbeddedStack) => Promise<void>;
}

/** The env vars that pin each service's ports across restarts (ServiceSpec.portEnv). */
const PORT_ENV: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  psp: { port: 'PSP_PORT' },
  api: { port: 'API_PORT', adminPort: 'API_ADMIN_PORT' },
  relay: { adminPort: 'RELAY_ADMIN_PORT' },
  worker: { adminPort: 'WORKER_ADMIN_PORT' },
  scheduler: { adminPort: 'SCHEDULER_ADMIN_PORT' },
  reconciler: { adminPort: 'RECONCILER_ADMIN_PORT' },
};

const entry = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export class EmbeddedStack {
  readonly options: EmbeddedStackOptions;
  /** The ledger's current primary (a promoted standby after a standby failover). */
  ledgerServer: PostgresServer | undefined;
  /** The ledger's synchronous streaming standby (options.ledgerStandby), until it is promoted. */
  ledgerStandby: PostgresServer | undefined;
  /** Dead primaries replaced by a promotion, destroyed with the stack. */
  private readonly retiredServers: PostgresServer[] = [];
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
  /** Compares the ledger with the provider's record and restores rewritten rows (src/reconcile). */
  reconciler: ServiceProcess | undefined;
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
    const server = async (name: string, root: string | undefined) => {
      const options = { name, parentDir: o.serverParentDir };
      if (!root) return PostgresServer.start(options);
      const restored = await PostgresServer.open({ ...options, root });
      await restored.resume();
      return restored;
    };
    [this.ledgerServer, this.queueServer] = await Promise.all([
      server('ledger', o.restore?.ledgerRoot),
      server('queue', o.restore?.queueRoot),
    ]);
    this.ledgerUrl = o.restore
      ? this.ledgerServer.url('ledger')
      : await this.ledgerServer.createDatabase('ledger');
    this.ledgerProxy = await FaultProxy.start({
      name: 'ledger',
      upstream: { host: '127.0.0.1', port: this.ledgerServer.port },
    });
    this.serviceLedgerUrl = urlThroughProxy(this.ledgerUrl, this.ledgerProxy.address);
    this.queueUrl = o.restore
      ? this.queueServer.url('queue')
      : await this.queueServer.createDatabase('queue');
    await o.restore?.verify(this);

    this.progress('migrating the ledger and queue databases, seeding the catalog');
    const ledger = await Ledger.open({ databaseUrl: this.ledgerUrl });
    await ledger.seedCatalog(o.drillCatalog.catalog).finally(() => ledger.close());
    const queue = await PostgresQueue.open({ databaseUrl: this.queueUrl });
    await queue.close();
    const intake = await PostgresIntake.open({ databaseUrl: this.queueUrl });
    await intake.close();
    if (this.environment) {
      this.progress(`stamping the ledger and queue databases for environment ${this.environment}`);
      for (const url of [this.ledgerUrl, this.queueUrl]) {
        const stamp = await stampDatabase(url, this.environment);
        if (stamp !== this.environment)
          throw fbError(
            'FB_ENV_MISMATCH',
            `${new URL(url).pathname.slice(1)} database is stamped ${stamp}, not ${this.environment}`,
          );
      }
    }
    if (o.ledgerStandby) await this.startLedgerStandby();
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
      await this.stampForEnvironment(this.redisUrl);
    }
    if (this.eventBusMode === 'kafka') {
      this.progress('starting the Kafka peer (librdkafka mock cluster via kcat)');
      this.kafka = await KcatMockCluster.start({ logFile: join(o.workDir, 'kafka.log') });
      await this.stampForEnvironment(`kafka://${this.kafka.bootstrap}`);
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
    this.reconciler = this.service('reconciler', '../reconcile/main.ts', {
      LEDGER_DATABASE_URL: this.serviceLedgerUrl,
      PSP_URL: this.pspUrl,
      // The sandbox's reads are behind its control key, as a real provider's are behind its API key.
      PSP_READ_KEY: this.pspControlKey,
      // A drill measures time to detection in seconds; production passes every minute.
      RECONCILER_INTERVAL_MS: '1000',
    });
    await Promise.all([this.worker.start(), this.scheduler.start(), this.reconciler.start()]);
  }

  /** The reconciler's admin listener (/metrics: ledger_tampering_detected_total). */
  get reconcilerAdminUrl(): string {
    return `http://127.0.0.1:${String(this.reconciler?.ready.adminPort)}`;
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

  /** The environment the stack's resources are stamped for and its services run as. */
  get environment(): string {
    return this.options.environment ?? 'staging';
  }

  /** Stamps a Redis or Kafka the stack started, as provisioning does (src/guardrails/fence). */
  private async stampForEnvironment(url: string): Promise<void> {
    const verdict = await new Fence({ env: this.environment, stampedBy: stampedBy('firebreak stack') }).stamp(
      parseResourceUrl(url),
    );
    if (isRefusal(verdict)) throw refusalError(verdict);
  }

  private service(name: string, path: string, stackEnv: Record<string, string>): ServiceProcess {
    const fence: Record<string, string> = this.environment
      ? { FIREBREAK_ENV: this.environment, FIREBREAK_ADOPT: '1' }
      : {};
    const configFile = isServiceName(name) ? this.options.configFiles?.[name] : undefined;
    let env = stackEnv;
    if (configFile !== undefined && isServiceName(name)) {
      // The file's tunables win: the stack's own tunable settings are dropped, not layered.
      const tunables = new Set(
        SERVICE_SPECS[name].envVars.filter((b) => b.path[0] === 'tunables').map((b) => b.env),
      );
      env = Object.fromEntries(Object.entries(stackEnv).filter(([k]) => !tunables.has(k)));
      env.FIREBREAK_CONFIG = configFile;
    }
    const svc = new ServiceProcess({
      name,
      entry: entry(path),
      // The embedded stack's queue is always the Postgres adapter, whatever a config namespace (prod: sqs) says.
      env: { LOG_LEVEL: 'info', QUEUE_BACKEND: 'postgres', ...fence, ...env },
      logFile: join(this.options.workDir, `${name}.log`),
      portEnv: PORT_ENV[name],
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
   * Brings the ledger back after killLedgerPrimary (src/stack/ledgerFailover.ts)
   * and resolves once it takes writes; idempotent. 'restart': crash recovery of
   * the same server on the same port. 'standby': the old primary is killed if
   * still running, the standby promoted, ledgerProxy pointed at it (the
   * services follow without a restart) and ledgerUrl updated for the auditor.
   * The result's mode says which ran; failoverMode is 'restart' afterwards
   * until rebuildLedgerStandby().
   */
  async ledgerFailover(): Promise<LedgerFailoverResult> {
    const failover = await failOverLedger({
      primary: this.ledgerServer!,
      standby: this.ledgerStandby,
      address: this.ledgerProxy,
    });
    if (failover.retired) this.retiredServers.push(failover.retired);
    this.ledgerServer = failover.primary;
    this.ledgerStandby = undefined;
    this.ledgerUrl = failover.primary.url('ledger');
    this.failoverMode = 'restart';
    return failover.result;
  }

  /** Clones the current ledger primary into a new synchronous standby (after a failover, say). */
  async rebuildLedgerStandby(): Promise<void> {
    await Promise.allSettled(this.retiredServers.splice(0).map((s) => s.destroy()));
    if (this.ledgerStandby) await this.ledgerStandby.destroy();
    this.ledgerStandby = undefined;
    await this.startLedgerStandby();
  }

  private async startLedgerStandby(): Promise<void> {
    const primary = this.ledgerServer!;
    this.progress('cloning the ledger into a synchronous streaming standby');
    const standby = await startStandby(primary, {
      name: 'ledger_standby',
      slot: 'firebreak_ledger_standby',
      parentDir: this.options.serverParentDir,
    });
    // A synchronous standby that dies would hold every commit: fall back to asynchronous.
    standby.onExit((exit) => {
      if (!exit.requested && this.ledgerStandby === standby && this.ledgerServer?.isRunning)
        degradeToAsync(this.ledgerServer).catch(() => {});
    });
    this.ledgerStandby = standby;
    this.failoverMode = 'standby';
  }

  /** Stops every process and server and removes the work directory unless keep is set. */
  async stop({ keepWorkDir = false }: { keepWorkDir?: boolean } = {}): Promise<void> {
    await Promise.allSettled(this.services.map((s) => s.stop()));
    await this.kafka?.stop();
    await this.ledgerProxy?.close();
    await this.redisServer?.destroy().catch(() => {});
    await Promise.allSettled([
      this.ledgerServer?.destroy(),
      this.ledgerStandby?.destroy(),
      ...this.retiredServers.map((s) => s.destroy()),
      this.queueServer?.destroy(),
    ]);
    if (!keepWorkDir) await rm(this.options.workDir, { recursive: true, force: true });
  }
}
