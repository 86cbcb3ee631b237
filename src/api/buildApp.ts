// The checkout API as a Fastify app, built from its dependencies so tests can
// build as many as they like and drive them with app.inject(). It validates,
// records, enqueues and answers; it never touches the ledger database, so it
// keeps accepting checkouts while the ledger is down.

import Fastify, { LogController, type FastifyInstance } from 'fastify';
import underPressure from '@fastify/under-pressure';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { CatalogIndex } from '../catalog/index.ts';
import type { CheckoutIntake } from '../intake/CheckoutIntake.ts';
import type { Queue } from '../queue/Queue.ts';
import { fbError } from '../errors/index.ts';
import { apiLogger, installRequestSummaryLine, requestLogMode } from './apiLogger.ts';
import { ApiMetrics } from './apiMetrics.ts';
import type { CatalogLookups } from '../cache/catalog/index.ts';
import { catalogRoutes } from './catalogRoutes.ts';
import { checkoutRoutes } from './checkoutRoutes.ts';
import { handleError, installErrorReplies } from './errorReplies.ts';

/** 64 KiB: a checkout request is a few hundred bytes; anything near this is not one. */
export const DEFAULT_BODY_LIMIT_BYTES = 65_536;
/** Long enough for a slow queue DB (a drill adds 500 ms), short enough that clients are not left hanging. */
export const DEFAULT_STORE_TIMEOUT_MS = 5_000;
export const DEFAULT_RETRY_AFTER_SEC = 2;

export interface LoadSheddingOptions {
  /** Answer 503 FB_OVERLOADED while the event loop lags by more than this (default 1000 ms). */
  readonly maxEventLoopDelayMs?: number;
  /** ... or while event-loop utilisation exceeds this fraction (0..1; default off). */
  readonly maxEventLoopUtilization?: number;
  /** How often the event loop is sampled (default 1000 ms). */
  readonly sampleIntervalMs?: number;
  /**
   * Answer 503 FB_OVERLOADED at once while this many checkout requests are
   * already being worked on (default 128). The event-loop signals above react
   * in about a second; this one reacts to the next request, so a retry storm
   * is shed instead of queueing behind the database pool until every client
   * times out (the incident: goodput fell to a few percent while the queue of
   * abandoned requests grew).
   */
  readonly maxInFlight?: number;
}

export const DEFAULT_MAX_IN_FLIGHT = 128;

export interface BuildAppOptions {
  readonly catalog: CatalogIndex;
  readonly queue: Queue;
  readonly intake: CheckoutIntake;
  /** Parent logger; secrets are redacted on the API's child of it. Default: silent. */
  readonly logger?: Logger;
  readonly bodyLimitBytes?: number;
  /** Where the API's metrics are registered (share it with the admin app to expose them). Default: a new one. */
  readonly registry?: Registry;
  readonly storeTimeoutMs?: number;
  readonly retryAfterSec?: number;
  /** false turns load shedding off. */
  readonly loadShedding?: LoadSheddingOptions | false;
  /** The cached public catalog lookups (GET /v1/creators/:id/plans, /v1/plans/:id, /v1/fx/:currency); absent: no such routes. */
  readonly catalogLookups?: CatalogLookups;
}

export interface CheckoutApp {
  readonly app: FastifyInstance;
  readonly metrics: ApiMetrics;
}

/** Builds the checkout API; `app.metrics` is reachable through the returned pair. */
export function buildCheckoutApp(options: BuildAppOptions): CheckoutApp {
  const bodyLimitBytes = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const retryAfterSec = options.retryAfterSec ?? DEFAULT_RETRY_AFTER_SEC;
  const logger = apiLogger(options.logger, { service: 'api' });
  // Per-request log lines follow the level (apiLogger.ts): Fastify's two lines with
  // every header only at debug; at info one summary line of our own.
  const requestLogs = requestLogMode(logger);
  const app: FastifyInstance = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: requestLogs !== 'full' }),
    bodyLimit: bodyLimitBytes,
    // Errors Fastify raises before routing (a URL that does not decode) get our shape too.
    frameworkErrors: (err, request, reply) => handleError(request, reply, err, bodyLimitBytes),
    // A client that stops sending mid-body must not hold a socket forever.
    requestTimeout: 30_000,
    // Fastify's own closing 503 has its own body shape; ours is below.
    return503OnClosing: false,
  });
  // Only JSON is accepted; Fastify's default text/plain parser would let a
  // string body through to validation.
  app.removeContentTypeParser('text/plain');

  // While draining for shutdown, requests that still arrive (on kept-alive
  // connections) are refused with our 503 and Connection: close, so the client
  // retries elsewhere; requests already past this point finish normally.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) {
      done();
      return;
    }
    reply.header('connection', 'close');
    done(
      fbError(
        'FB_OVERLOADED',
        'This API instance is shutting down; retry now with the same Idempotency-Key.',
        {
          retryAfterSec: 1,
        },
      ),
    );
  });

  if (requestLogs !== 'off') installRequestSummaryLine(app);
  const metrics = new ApiMetrics(options.registry);
  metrics.instrument(app);
  installErrorReplies(app, bodyLimitBytes);

  if (options.loadShedding !== false) {
    const shedding = options.loadShedding ?? {};
    const maxInFlight = shedding.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    let inFlight = 0;
    app.addHook('onRequest', (_request, reply, done) => {
      if (inFlight >= maxInFlight) {
        metrics.shed.inc();
        done(
          fbError(
            'FB_OVERLOADED',
            `The API is overloaded (${maxInFlight} requests in progress); retry after ${retryAfterSec} s with the same request.`,
            { retryAfterSec },
          ),
        );
        return;
      }
      inFlight++;
      metrics.inFlight.set(inFlight);
      // 'close' fires once whether the reply was sent or the client went away.
      reply.raw.once('close', () => metrics.inFlight.set(--inFlight));
      done();
    });
    void app.register(underPressure, {
      maxEventLoopDelay: shedding.maxEventLoopDelayMs ?? 1_000,
      maxEventLoopUtilization: shedding.maxEventLoopUtilization ?? 0,
      sampleInterval: shedding.sampleIntervalMs ?? 1_000,
      // A rejected promise goes to our error handler, which answers 503 with Retry-After.
      pressureHandler: () =>
        Promise.reject(
          fbError(
            'FB_OVERLOADED',
            `The API is overloaded; retry after ${retryAfterSec} s with the same request.`,
            {
              retryAfterSec,
            },
          ),
        ),
    });
  }

  checkoutRoutes(app, {
    catalog: options.catalog,
    queue: options.queue,
    intake: options.intake,
    metrics,
    bodyLimitBytes,
    store: {
      timeoutMs: options.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS,
      retryAfterSec,
      onUnavailable: (what, err, transient) => {
        metrics.queueUnavailable.inc();
        logger[transient ? 'warn' : 'error']({ err, what }, 'queue store call failed');
      },
    },
  });
  if (options.catalogLookups) catalogRoutes(app, { lookups: options.catalogLookups });
  return { app, metrics };
}

/** The checkout API app. */
export function buildApp(options: BuildAppOptions): FastifyInstance {
  return buildCheckoutApp(options).app;
}
