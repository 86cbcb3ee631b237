// The supervisor of a `firebreak up` stack: a detached process that owns the
// stack (EmbeddedStack: Postgres servers, the ledger's standby and stable
// address, Redis, the Kafka peer, the five services), keeps it running after
// the command that started it has returned, and records it in the state
// file (stackState.ts) on every change.
//
// What it does when something dies on its own (anything stop() did not ask for):
// - a service process: restarted on the same ports with exponential backoff
//   (restartPolicy.ts), as a Kubernetes pod restart would be;
// - the ledger primary: failover (ledgerFailover.ts): the standby is promoted
//   and the services' stable address re-pointed; a new standby is then cloned
//   from the new primary. With no standby: crash recovery (restart);
// - the ledger standby: commits stop waiting for it (EmbeddedStack) and a new
//   one is cloned;
// - the queue Postgres, Redis, the Kafka peer: started again.
// SIGTERM or SIGINT stops everything and removes the state directory.

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { makeDrillCatalog } from '../drill/drillCatalog.ts';
import { EmbeddedStack, type RestoredStores } from '../drill/embeddedStack.ts';
import { EnvName } from '../guardrails/fence/environment.ts';
import { SeededRandom } from '../util/seededRandom.ts';
import type { PostgresServer } from './postgresServer.ts';
import { CrashLoop, RestartPolicy } from './restartPolicy.ts';
import type { ServiceProcess } from './serviceProcess.ts';
import { StoreEntry } from './snapshot/manifest.ts';
import { procOf, writeState, type Component, type StackState } from './stackState.ts';

export const SupervisorConfig = z.object({
  stateDir: z.string().min(1),
  environment: EnvName,
  seed: z.string().min(1).max(200),
  creators: z.number().int().min(1).max(10_000),
  ledgerStandby: z.boolean(),
  redis: z.boolean(),
  eventBus: z.enum(['auto', 'kafka', 'file']),
  restartPolicy: RestartPolicy,
  restore: z
    .object({
      snapshot: z.string(),
      ledgerRoot: z.string(),
      queueRoot: z.string(),
      /** The manifest's stores: restore points and the row counts to find. */
      stores: z.array(StoreEntry),
    })
    .optional(),
});
export type SupervisorConfig = z.infer<typeof SupervisorConfig>;

interface Bookkeeping {
  restarts: number;
  lastExit: Component['lastExit'];
  state: Component['state'];
  nextRestartAt: string | null;
  readonly loop: CrashLoop;
}

export class StackSupervisor {
  readonly config: SupervisorConfig;
  readonly stack: EmbeddedStack;
  private readonly logger: Logger;
  private readonly books = new Map<string, Bookkeeping>();
  private readonly recovering = new Set<string>();
  private readonly failovers: Record<string, unknown>[] = [];
  private readonly createdAt = new Date().toISOString();
  private phase: StackState['phase'] = 'running';
  private stopping = false;
  private poller: NodeJS.Timeout | undefined;
  private writes: Promise<void> = Promise.resolve();
  private readonly sleeps = new Set<() => void>();
  /** Directories of ledger primaries a failover replaced (destroyed when the standby is rebuilt). */
  private readonly retiredRoots: string[] = [];
  private stateRemoved = false;

  private constructor(config: SupervisorConfig, stack: EmbeddedStack, logger: Logger) {
    this.config = config;
    this.stack = stack;
    this.logger = logger;
  }

  /** Boots the stack, starts watching it and writes the first state file. */
  static async start(
    config: SupervisorConfig,
    logger: Logger,
    hooks: { verifyRestore?: RestoredStores['verify']; onProgress?: (m: string) => void } = {},
  ): Promise<StackSupervisor> {
    const rng = new SeededRandom(config.seed);
    const drillCatalog = makeDrillCatalog(rng, config.creators);
    const restore = config.restore;
    const stack = await EmbeddedStack.start({
      workDir: join(config.stateDir, 'work'),
      drillCatalog,
      rng,
      seed: config.seed,
      // A staging stack behaves like production where a drill would be impatient.
      visibilityTimeoutSec: 30,
      maxReceiveCount: 3,
      workerConcurrency: 8,
      providerFaults: { declineRate: 0, errorRate: 0, errorAfterCaptureRate: 0, latencyMs: 0 },
      eventBus: config.eventBus,
      redis: config.redis,
      ledgerStandby: config.ledgerStandby,
      environment: config.environment,
      restore:
        restore && hooks.verifyRestore
          ? { ledgerRoot: restore.ledgerRoot, queueRoot: restore.queueRoot, verify: hooks.verifyRestore }
          : undefined,
      onProgress: hooks.onProgress,
    });
    const supervisor = new StackSupervisor(config, stack, logger);
    supervisor.watch();
    await supervisor.persist();
    return supervisor;
  }

  private book(name: string): Bookkeeping {
    let b = this.books.get(name);
    if (!b) {
      const policy =
        name === 'ledger'
          ? // Failover is what the standby is for: start at once, not after a second.
            {
              ...this.config.restartPolicy,
              initialDelayMs: Math.min(100, this.config.restartPolicy.initialDelayMs),
            }
          : this.config.restartPolicy;
      b = { restarts: 0, lastExit: null, state: 'running', nextRestartAt: null, loop: new CrashLoop(policy) };
      b.loop.started(Date.now());
      this.books.set(name, b);
    }
    return b;
  }

  private watch(): void {
    const s = this.stack;
    for (const svc of s.services) this.watchService(svc);
    this.watchLedgerPrimary(s.ledgerServer!);
    if (s.ledgerStandby) this.watchLedgerStandby(s.ledgerStandby);
    s.queueServer!.onExit((exit) => {
      if (!exit.requested) this.recover('queue', exit, () => s.queueServer!.resume());
    });
    // Redis and the Kafka peer report no exits: look every second.
    this.poller = setInterval(() => {
      if (this.stopping) return;
      if (s.redisServer && !s.redisServer.isRunning)
        this.recover('redis', { code: null, signal: null }, () => s.redisServer!.resume());
      if (s.kafka && !s.kafka.running)
        this.recover('kafka', { code: null, signal: null }, () => s.kafka!.restart());
    }, 1_000);
  }

  private watchService(svc: ServiceProcess): void {
    svc.onExit((exit) => {
      if (!exit.requested) this.recover(svc.spec.name, exit, async () => void (await svc.start()));
    });
  }

  private watchLedgerPrimary(primary: PostgresServer): void {
    primary.onExit((exit) => {
      if (exit.requested || this.stack.ledgerServer !== primary) return;
      this.recover('ledger', exit, async () => {
        const result = await this.stack.ledgerFailover();
        if (result.mode === 'standby') this.retiredRoots.push(primary.root);
        this.failovers.push({ ...result });
        this.logger.warn({ failover: result }, `ledger failover (${result.mode}) done`);
        if (this.stack.ledgerServer !== primary) this.watchLedgerPrimary(this.stack.ledgerServer!);
        if (result.mode === 'standby' && this.config.ledgerStandby)
          this.recover('ledger-standby', null, () => this.rebuildStandby());
      });
    });
  }

  private watchLedgerStandby(standby: PostgresServer): void {
    standby.onExit((exit) => {
      if (exit.requested || this.stack.ledgerStandby !== standby) return;
      this.recover('ledger-standby', exit, () => this.rebuildStandby());
    });
  }

  private async rebuildStandby(): Promise<void> {
    await this.stack.rebuildLedgerStandby();
    this.watchLedgerStandby(this.stack.ledgerStandby!);
  }

  /**
   * Runs `action` until it succeeds, with the component's backoff before each
   * try. One loop per component: exits seen while it runs (a failed start
   * exits too) are part of it.
   */
  private recover(
    name: string,
    exit: { code: number | null; signal: string | null } | null,
    action: () => Promise<void>,
  ): void {
    if (this.stopping) return;
    const b = this.book(name);
    if (exit) b.lastExit = { code: exit.code, signal: exit.signal, at: new Date().toISOString() };
    if (this.recovering.has(name)) return;
    this.recovering.add(name);
    this.logger.warn({ component: name, exit }, `${name} exited; recovering`);
    void (async () => {
      try {
        for (;;) {
          const delay = b.loop.crashed(Date.now());
          b.state = 'restarting';
          b.nextRestartAt = new Date(Date.now() + delay).toISOString();
          await this.persist();
          await this.sleep(delay);
          if (this.stopping) return;
          b.restarts++;
          try {
            await action();
            b.loop.started(Date.now());
            b.state = 'running';
            b.nextRestartAt = null;
            this.logger.info({ component: name, restarts: b.restarts }, `${name} is back`);
            await this.persist();
            return;
          } catch (err) {
            this.logger.error({ component: name, err }, `${name} did not come back; backing off`);
          }
        }
      } finally {
        this.recovering.delete(name);
      }
    })().catch((err: unknown) => this.logger.error({ err, component: name }, 'recovery loop failed'));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleeps.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleeps.add(done);
    });
  }

  /** The state as it is now. */
  state(): StackState {
    const s = this.stack;
    const comps: Component[] = [];
    const book = (name: string) => {
      const b = this.books.get(name);
      return {
        state: b?.state ?? ('running' as const),
        restarts: b?.restarts ?? 0,
        lastExit: b?.lastExit ?? null,
        nextRestartAt: b?.nextRestartAt ?? null,
      };
    };
    const pg = (name: string, server: PostgresServer | undefined, role: string, database: string) => {
      if (!server) return;
      comps.push({
        name,
        kind: 'postgres',
        role,
        proc: procOf(server.pid),
        port: server.port,
        probe: server.url(database),
        database,
        dataDir: server.dataDir,
        ...book(name),
      });
    };
    pg('ledger', s.ledgerServer, 'primary', 'ledger');
    pg('ledger-standby', s.ledgerStandby, 'standby', 'ledger');
    if (s.ledgerProxy)
      comps.push({
        name: 'ledger-address',
        kind: 'proxy',
        proc: procOf(process.pid),
        port: s.ledgerProxy.port,
        probe: `127.0.0.1:${s.ledgerProxy.port}`,
        ...book('ledger-address'),
      });
    pg('queue', s.queueServer, 'primary', 'queue');
    if (s.redisServer)
      comps.push({
        name: 'redis',
        kind: 'redis',
        proc: procOf(s.redisServer.pid),
        port: s.redisServer.port,
        probe: `127.0.0.1:${s.redisServer.port}`,
        ...book('redis'),
      });
    if (s.kafka) {
      const port = Number(s.kafka.bootstrap.split(':')[1]);
      comps.push({
        name: 'kafka',
        kind: 'kafka',
        proc: procOf(s.kafka.pid),
        port,
        probe: s.kafka.bootstrap,
        ...book('kafka'),
      });
    }
    for (const svc of s.services) {
      const ready = safeReady(svc);
      const port = typeof ready?.port === 'number' ? ready.port : null;
      const adminPort = typeof ready?.adminPort === 'number' ? ready.adminPort : null;
      comps.push({
        name: svc.spec.name,
        kind: 'service',
        proc: svc.running ? procOf(svc.pid) : null,
        port,
        adminPort,
        // The provider has no admin listener: /healthz on its one port.
        probe: adminPort ? `http://127.0.0.1:${adminPort}/livez` : `http://127.0.0.1:${port}/healthz`,
        ...book(svc.spec.name),
      });
    }
    const roots = [s.ledgerServer, s.ledgerStandby, s.queueServer].flatMap((x) => (x ? [x.root] : []));
    return {
      version: 1,
      stateDir: this.config.stateDir,
      createdAt: this.createdAt,
      updatedAt: new Date().toISOString(),
      phase: this.phase,
      environment: this.config.environment,
      seed: this.config.seed,
      creators: this.config.creators,
      supervisor: { ...procOf(process.pid)!, log: join(this.config.stateDir, 'supervisor.log') },
      failoverMode: s.failoverMode,
      failovers: this.failovers,
      restoredFrom: this.config.restore?.snapshot ?? null,
      components: comps,
      urls: {
        api: s.apiUrl,
        apiAdmin: s.apiAdminUrl,
        psp: s.pspUrl,
        ledger: s.serviceLedgerUrl,
        ledgerDirect: s.ledgerUrl,
        queue: s.queueUrl,
        ...(s.redisUrl ? { redis: s.redisUrl } : {}),
        ...(s.kafka ? { kafka: s.kafka.bootstrap } : {}),
      },
      keys: {
        adminKey: s.adminKey,
        pspControlKey: s.pspControlKey,
        schedulerClockKey: s.schedulerClockKey,
        apiKeys: Object.fromEntries(s.options.drillCatalog.apiKeys),
      },
      dirs: [
        join(this.config.stateDir, 'work'),
        ...roots,
        ...(s.redisServer ? [s.redisServer.root] : []),
        ...this.retiredRoots,
      ],
    };
  }

  /** Writes the state file; writes are serialised so the last one wins. */
  persist(): Promise<void> {
    if (this.stateRemoved) return Promise.resolve();
    const state = this.state();
    this.writes = this.writes.then(
      () => writeState(state),
      () => writeState(state),
    );
    return this.writes.catch((err: unknown) => this.logger.error({ err }, 'could not write the state file'));
  }

  /** Stops everything and removes the state directory. */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.phase = 'stopping';
    clearInterval(this.poller);
    for (const wake of [...this.sleeps]) wake();
    await this.persist();
    this.stateRemoved = true;
    await this.writes.catch(() => {});
    this.logger.info('stopping the stack');
    await this.stack.stop();
    await rm(this.config.stateDir, { recursive: true, force: true });
  }
}

function safeReady(svc: ServiceProcess): Record<string, unknown> | undefined {
  try {
    return svc.ready;
  } catch {
    return undefined;
  }
}
