// Which payment queue a service runs on, chosen by configuration: the Postgres
// adapter (QUEUE_BACKEND=postgres, the default: tests, drills, staging) or
// Amazon SQS FIFO (QUEUE_BACKEND=sqs: production, checkout-payments.fifo).
// One env fragment, spread into the schema of each service that opens the
// queue (api, worker, scheduler, `firebreak dlq`), and one opener, so the
// entry points cannot disagree on what a setting means.
//
// The checkout intake stays in Postgres (QUEUE_DATABASE_URL) either way. With
// SQS that database holds only the intake (its queue tables stay empty), and
// the API takes the generic record → send → markQueued path instead of the
// one-statement fast path (src/api/checkoutRoutes.ts): SQS's 128-bit sequence
// numbers go into numeric(39,0) columns in the intake and the ledger.
//
// SQS_ENDPOINT names an SQS-compatible endpoint. Every call then goes there,
// whatever host the queue URLs name: the SDK's useQueueUrlAsEndpoint (on by
// default, routing a call to its QueueUrl's host) applies only to a client
// without a custom endpoint (@aws-sdk/middleware-sdk-sqs queue-url.js), so the
// queue URLs can stay the ones AWS gives. The region then only signs requests
// and defaults to us-east-1. Credentials come from the SDK's default chain
// (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the task or
// instance role). The SQS adapter and the SDK are imported only when chosen.

import type { Logger } from 'pino';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { fbError } from '../errors/index.ts';
import { PostgresQueue } from './PostgresQueue.ts';
import type { Queue } from './Queue.ts';

export const QUEUE_BACKENDS = ['postgres', 'sqs'] as const;
export type QueueBackend = (typeof QUEUE_BACKENDS)[number];

/** The region that signs requests to SQS_ENDPOINT when AWS_REGION is unset. */
export const ENDPOINT_DEFAULT_REGION = 'us-east-1';

const EXAMPLE_QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/checkout-payments.fifo';

const fifoQueueUrl = (what: string) =>
  z
    .url({
      protocol: /^https?$/,
      error: `must be the http(s) URL of the ${what}, e.g. ${EXAMPLE_QUEUE_URL}`,
    })
    .refine((u) => new URL(u).pathname.endsWith('.fifo'), {
      error: `must be the URL of a FIFO queue (the ${what}'s name ends in .fifo), e.g. ${EXAMPLE_QUEUE_URL}`,
    });

/**
 * The variables, to spread into a service's z.object (then add
 * `.superRefine(refineQueueBackend)`). Messages do not repeat the variable's
 * name: the issue's path holds it.
 */
export const queueBackendEnv = {
  QUEUE_BACKEND: z
    .enum(QUEUE_BACKENDS, { error: `must be ${QUEUE_BACKENDS.join(' or ')} (the payment queue's adapter)` })
    .default('postgres'),
  SQS_QUEUE_URL: fifoQueueUrl('payment queue').optional(),
  SQS_DLQ_URL: fifoQueueUrl('dead-letter queue').optional(),
  // Checked only with sqs (refineQueueBackend): the variable is the SDK's, and other tools set it too.
  AWS_REGION: z.string().optional(),
  SQS_ENDPOINT: z
    .url({ protocol: /^https?$/, error: 'must be the http(s) URL of an SQS-compatible endpoint' })
    .optional(),
};

export interface QueueBackendConfig {
  readonly QUEUE_BACKEND: QueueBackend;
  readonly SQS_QUEUE_URL?: string | undefined;
  readonly SQS_DLQ_URL?: string | undefined;
  readonly AWS_REGION?: string | undefined;
  readonly SQS_ENDPOINT?: string | undefined;
}

/** The rules between the variables; each issue's path is the variable to fix. */
export function refineQueueBackend(config: QueueBackendConfig, ctx: z.RefinementCtx): void {
  const issue = (variable: string, message: string) =>
    ctx.addIssue({ code: 'custom', path: [variable], message });
  if (config.QUEUE_BACKEND === 'postgres') {
    // A queue URL set while the backend is postgres is a half-made switch: refuse it rather than run on the wrong queue.
    for (const variable of ['SQS_QUEUE_URL', 'SQS_DLQ_URL'] as const)
      if (config[variable] !== undefined)
        issue(variable, 'is set but QUEUE_BACKEND is postgres: set QUEUE_BACKEND=sqs, or unset it');
    return;
  }
  if (config.SQS_QUEUE_URL === undefined)
    issue(
      'SQS_QUEUE_URL',
      `is required when QUEUE_BACKEND=sqs: the URL of the payment queue, e.g. ${EXAMPLE_QUEUE_URL}`,
    );
  if (config.SQS_DLQ_URL === undefined)
    issue(
      'SQS_DLQ_URL',
      "is required when QUEUE_BACKEND=sqs: the URL of the payment queue's dead-letter queue (a .fifo queue)",
    );
  else if (config.SQS_DLQ_URL === config.SQS_QUEUE_URL)
    issue('SQS_DLQ_URL', 'must differ from SQS_QUEUE_URL: the dead-letter queue is a queue of its own');
  if (config.AWS_REGION === undefined && config.SQS_ENDPOINT === undefined)
    issue('AWS_REGION', 'is required when QUEUE_BACKEND=sqs (unless SQS_ENDPOINT is set), e.g. eu-west-1');
  else if (config.AWS_REGION !== undefined && !/^[a-z]{2}(-[a-z]+)+-[0-9]+$/.test(config.AWS_REGION))
    issue('AWS_REGION', 'must be an AWS region, e.g. eu-west-1');
}

/** The region requests are signed for. */
function regionOf(config: QueueBackendConfig): string {
  return config.AWS_REGION ?? ENDPOINT_DEFAULT_REGION;
}

/**
 * The queues as resources of the environment fence (src/guardrails/fence),
 * to spread into startServiceFence's resources: none for postgres (the
 * service already names its queue database), both SQS queues for sqs, behind
 * SQS_ENDPOINT when it is set (the fence's http://HOST:PORT/ACCOUNT/NAME?region= form).
 */
export function queueFenceResources(config: QueueBackendConfig): Record<string, string | undefined> {
  if (config.QUEUE_BACKEND !== 'sqs') return {};
  const at = (queueUrl: string | undefined) => {
    if (queueUrl === undefined || config.SQS_ENDPOINT === undefined) return queueUrl;
    const endpoint = new URL(config.SQS_ENDPOINT);
    return `${endpoint.origin}${new URL(queueUrl).pathname}?region=${regionOf(config)}`;
  };
  return {
    'payment queue': at(config.SQS_QUEUE_URL),
    'payment dead-letter queue': at(config.SQS_DLQ_URL),
  };
}

export interface OpenQueueOptions {
  /** Postgres only: the queue database, as a pool the caller owns or a URL. */
  readonly postgres?:
    { readonly pool: pg.Pool } | { readonly databaseUrl: string; readonly maxConnections?: number };
  /** Receives only (the worker); default the adapter's (300 s). */
  readonly visibilityTimeoutSec?: number;
  /**
   * Postgres: the adapter applies it. SQS: the queue's RedrivePolicy decides
   * (infrastructure sets it); when given, open checks the two agree.
   */
  readonly maxReceiveCount?: number;
  /** SQS: the outbound policy's metrics (firebreak_outbound_*{dependency="sqs"}). */
  readonly registry?: Registry;
  /** SQS: breaker state changes and the adapter's events. */
  readonly logger?: Logger;
}

/**
 * Opens the configured queue. Postgres: PostgresQueue.open (applies the queue
 * database's migrations). SQS: SqsQueue.open (checks both queues are FIFO and
 * the payment queue redrives to SQS_DLQ_URL); a wrong queue is FB_CONFIG_INVALID.
 */
export async function openQueue(config: QueueBackendConfig, o: OpenQueueOptions): Promise<Queue> {
  const tuning = {
    ...(o.visibilityTimeoutSec === undefined ? {} : { visibilityTimeoutSec: o.visibilityTimeoutSec }),
  };
  if (config.QUEUE_BACKEND === 'postgres') {
    if (o.postgres === undefined)
      throw new Error('openQueue: QUEUE_BACKEND=postgres needs the queue database');
    return PostgresQueue.open({
      ...o.postgres,
      ...tuning,
      ...(o.maxReceiveCount === undefined ? {} : { maxReceiveCount: o.maxReceiveCount }),
    });
  }
  const { SqsQueue, sqsPolicy } = await import('./SqsQueue.ts');
  const { logger } = o;
  const settings = sqsSettings(config);
  const queue = await SqsQueue.open({
    ...settings,
    ...tuning,
    policy: sqsPolicy({
      ...(o.registry ? { registry: o.registry } : {}),
      ...(logger ? { logger } : {}),
    }),
    ...(logger
      ? {
          onEvent: (event) => {
            const { type, ...fields } = event;
            logger.warn({ ...fields, event: type }, `payment queue (SQS): ${type}`);
          },
        }
      : {}),
  });
  if (o.maxReceiveCount !== undefined) {
    try {
      await checkMaxReceiveCount(settings, o.maxReceiveCount);
    } catch (err) {
      await queue.close();
      throw err;
    }
  }
  return queue;
}

function sqsSettings(config: QueueBackendConfig) {
  // refineQueueBackend has made sure of both; this guards a caller that skipped it.
  if (config.SQS_QUEUE_URL === undefined || config.SQS_DLQ_URL === undefined)
    throw fbError('FB_CONFIG_INVALID', 'QUEUE_BACKEND=sqs needs SQS_QUEUE_URL and SQS_DLQ_URL', {
      field: config.SQS_QUEUE_URL === undefined ? 'SQS_QUEUE_URL' : 'SQS_DLQ_URL',
    });
  return {
    queueUrl: config.SQS_QUEUE_URL,
    dlqUrl: config.SQS_DLQ_URL,
    region: regionOf(config),
    ...(config.SQS_ENDPOINT === undefined ? {} : { endpoint: config.SQS_ENDPOINT }),
  };
}

/**
 * SQS counts receives itself and moves a message after the queue's
 * maxReceiveCount: a service configured with another number would believe
 * something untrue about when its checkouts are dead-lettered. One
 * GetQueueAttributes at start, on a client of its own (SqsQueue keeps its own private).
 */
async function checkMaxReceiveCount(settings: ReturnType<typeof sqsSettings>, wanted: number): Promise<void> {
  const { GetQueueAttributesCommand, SQSClient } = await import('@aws-sdk/client-sqs');
  const { parseRedrivePolicy } = await import('./sqs/ensureQueues.ts');
  const client = new SQSClient({
    region: settings.region,
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
  });
  try {
    const out = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: settings.queueUrl, AttributeNames: ['RedrivePolicy'] }),
    );
    const actual = parseRedrivePolicy(out.Attributes?.RedrivePolicy)?.maxReceiveCount;
    if (actual !== wanted)
      throw fbError(
        'FB_CONFIG_INVALID',
        `QUEUE_MAX_RECEIVE_COUNT is ${wanted} but the SQS queue ${settings.queueUrl} dead-letters after ${String(actual)} receives (its RedrivePolicy): make them agree, in the queue's infrastructure code or in the config`,
        { field: 'QUEUE_MAX_RECEIVE_COUNT' },
      );
  } finally {
    client.destroy();
  }
}
