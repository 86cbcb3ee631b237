// The fence as Firebreak's services use it (api, worker, relay, scheduler):
// one call at the top of main(), before anything is opened or migrated.
//
//   await startServiceFence({ service: 'worker', logger, resources: {
//     'ledger database': env.LEDGER_DATABASE_URL, 'queue database': env.QUEUE_DATABASE_URL } });
//
// - Reads FIREBREAK_ENV (the environment the process runs as),
//   FIREBREAK_ADOPT and FIREBREAK_PUSHGATEWAY_URL.
// - FIREBREAK_ENV unset means local development: the process runs as "dev"
//   and adopts (stamps) unstamped resources on this machine (loopback) only.
//   A deployed process sets FIREBREAK_ENV and adopts nothing unless
//   FIREBREAK_ADOPT=1. So a process nobody configured can still never use a
//   staging or production resource: those are stamped, and not "dev".
// - Checks every configured resource at once. A refusal stops the process
//   with exit code 3 before its first write: one `FB_ENV_...: ...` line per
//   refused resource on stderr (resource named, password redacted, both
//   environments), the refusal pushed to the Pushgateway if configured. The
//   fence exits the process itself, so no catch-all in a main.ts can turn
//   it into exit 1 or 2.
// - A resource that cannot be reached yet is not a refusal: it is checked
//   when it is first connected to (Postgres: every new connection, see
//   pgConnectionFence.ts; Kafka: guardEventBus, before the bus's first use).
// - From then on every new Postgres connection of the process is checked
//   before its first use; a refusal there exits 3 as well.

import type { Logger } from 'pino';
import { z } from 'zod';
import { fbError, type FirebreakError } from '../../errors/index.ts';
import type { DeclareResult, EventBus, EventRecord, LiveTopic, TopicSpec } from '../../eventBus/EventBus.ts';
import { DEFAULT_ENV, EnvName, stampedBy } from './environment.ts';
import { Fence } from './fence.ts';
import { pushFenceMetrics } from './fenceMetrics.ts';
import { installPgConnectionFence } from './pgConnectionFence.ts';
import {
  describeResource,
  isLoopback,
  parseResourceUrl,
  type FenceResource,
  type KafkaResource,
  type PostgresResource,
} from './resourceUrl.ts';
import { isRefusal, type FenceVerdict } from './verdict.ts';

/** The exit code of a process the fence stopped. */
export const FENCE_EXIT_CODE = 3;

const FenceEnv = z.object({
  FIREBREAK_ENV: EnvName.optional(),
  FIREBREAK_ADOPT: z.enum(['0', '1', 'true', 'false'], { error: 'must be 1 or 0' }).optional(),
  FIREBREAK_PUSHGATEWAY_URL: z
    .url({ error: 'must be the http(s) URL of a Prometheus Pushgateway' })
    .optional(),
});

export interface ServiceFenceOptions {
  readonly service: string;
  /** Every stateful resource the process is configured with, by name; undefined ones are skipped. */
  readonly resources: Readonly<Record<string, string | undefined>>;
  readonly logger: Logger;
  readonly env?: NodeJS.ProcessEnv;
  /** How the process ends on a refusal (tests); default process.exit. */
  readonly exit?: (code: number) => void;
}

export interface ServiceFence {
  readonly fence: Fence;
  /** The environment the process runs as. */
  readonly env: string;
  /** Holds the event bus's first use until the Kafka cluster's stamp has passed (a no-op for the file sink). */
  guardEventBus(bus: EventBus): EventBus;
  /** Removes the process-wide Postgres connection check (tests). */
  uninstall(): void;
}

/** The Kafka resource URL of a broker list, as the relay's KAFKA_BROKERS gives it. */
export const kafkaUrl = (brokers: readonly string[]): string => `kafka://${brokers.join(',')}`;

export async function startServiceFence(options: ServiceFenceOptions): Promise<ServiceFence> {
  const { service, logger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const parsed = FenceEnv.safeParse(
    Object.fromEntries(
      Object.entries(options.env ?? process.env).filter(([, v]) => v !== undefined && v !== ''),
    ),
  );
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${i.path.map(String).join('.')}: ${i.message}`)
      .join('; ');
    throw fbError('FB_CONFIG_INVALID', `${service}: invalid configuration: ${problems}`);
  }
  const config = parsed.data;
  const env = config.FIREBREAK_ENV ?? DEFAULT_ENV;
  const implicit = config.FIREBREAK_ENV === undefined;
  const adoptAll = config.FIREBREAK_ADOPT === '1' || config.FIREBREAK_ADOPT === 'true';
  if (implicit)
    logger.warn(
      { env },
      'FIREBREAK_ENV is not set: running as "dev"; unstamped resources on this machine are adopted as dev',
    );

  const resources: FenceResource[] = Object.entries(options.resources).flatMap(([name, url]) =>
    url ? [parseResourceUrl(url, { name, errorCode: 'FB_CONFIG_INVALID' })] : [],
  );

  let started = false;
  let exiting = false;
  const refusals: FirebreakError[] = [];
  /** Reports the refusals and ends the process with code 3 (at once without a Pushgateway, else after the push). */
  const stop = async (errors: readonly FirebreakError[]): Promise<void> => {
    for (const err of errors) process.stderr.write(`${err.code}: ${err.message}\n`);
    if (exiting) return;
    exiting = true;
    logger.fatal(
      { env, refused: errors.map((e) => e.code) },
      `environment fence: refused ${errors.length} resource(s); exiting with code ${FENCE_EXIT_CODE} before any write`,
    );
    if (config.FIREBREAK_PUSHGATEWAY_URL) await push();
    exit(FENCE_EXIT_CODE);
  };

  const fence = new Fence({
    env,
    adopt: adoptAll ? true : implicit ? isLoopback : false,
    stampedBy: stampedBy(`firebreak ${service}`),
    onAdopted: (v) =>
      logger.warn(
        { resource: describeResource(v.resource), env },
        'environment fence: adopted an unstamped resource (stamped it for this environment)',
      ),
    onRefused: (_v, err) => {
      // At start-up every resource is checked before the process stops; later (a reconnect) at once.
      if (started) void stop([err]);
      else refusals.push(err);
    },
  });

  const push = async (): Promise<void> => {
    if (!config.FIREBREAK_PUSHGATEWAY_URL) return;
    try {
      await pushFenceMetrics({ url: config.FIREBREAK_PUSHGATEWAY_URL, service, env }, fence.metrics.registry);
    } catch (err) {
      logger.warn({ err }, 'environment fence: could not push to the Pushgateway');
    }
  };

  const pgResources = resources.filter((r): r is PostgresResource => r.kind === 'postgres');
  const uninstall = installPgConnectionFence(fence, { known: pgResources, holdRefused: true });

  const verdicts = new Map<FenceResource, FenceVerdict>();
  await Promise.all(
    resources.map(async (resource) => {
      try {
        const verdict = await fence.check(resource);
        verdicts.set(resource, verdict);
        if (!isRefusal(verdict))
          logger.info(
            { resource: describeResource(resource), env, outcome: verdict.outcome },
            'environment fence: resource verified',
          );
      } catch (err) {
        logger.warn(
          { resource: describeResource(resource), err },
          'environment fence: cannot check this resource yet; it is checked when first connected to',
        );
      }
    }),
  );
  started = true;
  if (refusals.length > 0) {
    await stop(refusals);
    // Only reached when `exit` did not end the process (tests).
    throw refusals[0]!;
  }
  void push();

  return {
    fence,
    env,
    uninstall,
    guardEventBus(bus) {
      const kafka = resources.find((r): r is KafkaResource => r.kind === 'kafka');
      if (bus.kind !== 'kafka' || !kafka) return bus;
      const passed = verdicts.get(kafka);
      return new FencedEventBus(bus, fence, kafka, passed !== undefined && !isRefusal(passed));
    },
  };
}

/** An event bus whose first use waits for the cluster's stamp check (when start-up could not reach it). */
class FencedEventBus implements EventBus {
  readonly kind;
  private readonly inner: EventBus;
  private readonly fence: Fence;
  private readonly resource: KafkaResource;
  private verified: boolean;

  constructor(inner: EventBus, fence: Fence, resource: KafkaResource, verified: boolean) {
    this.kind = inner.kind;
    this.inner = inner;
    this.fence = fence;
    this.resource = resource;
    this.verified = verified;
  }

  private async ensure(): Promise<void> {
    if (this.verified) return;
    // Unreachable: rejects FB_ENV_CHECK_FAILED, and the caller retries as for any bus failure.
    const verdict = await this.fence.check(this.resource);
    // Refused: the service fence is ending the process; the bus is never used.
    if (isRefusal(verdict)) await new Promise<never>(() => {});
    this.verified = true;
  }

  async declareTopics(specs: readonly TopicSpec[]): Promise<DeclareResult> {
    await this.ensure();
    return this.inner.declareTopics(specs);
  }

  async describeTopics(names: readonly string[]): Promise<LiveTopic[]> {
    await this.ensure();
    return this.inner.describeTopics(names);
  }

  async publish(records: readonly EventRecord[]): Promise<void> {
    await this.ensure();
    return this.inner.publish(records);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
