// The API's Prometheus metrics, on a registry owned by the caller (or one per
// app): never prom-client's global default registry, so tests and drills can
// build many apps in one process without "metric already registered".

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';

export class ApiMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly checkoutsAccepted: Counter<'replayed'>;
  readonly queueUnavailable: Counter;
  readonly shed: Counter;
  readonly inFlight: Gauge;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.httpRequests = new Counter({
      name: 'firebreak_api_http_requests_total',
      help: 'HTTP requests answered by the checkout API, by route template and status.',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    });
    this.httpDuration = new Histogram({
      name: 'firebreak_api_http_request_duration_seconds',
      help: 'Time to answer an HTTP request of the checkout API.',
      labelNames: ['method', 'route', 'status'],
      // The queue write dominates; 5 ms .. 10 s covers a healthy DB to a stalled one.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.checkoutsAccepted = new Counter({
      name: 'firebreak_api_checkouts_accepted_total',
      help: 'Checkouts answered 202, split by whether the request was an idempotent replay.',
      labelNames: ['replayed'],
      registers: [registry],
    });
    this.queueUnavailable = new Counter({
      name: 'firebreak_api_queue_unavailable_total',
      help: 'Requests answered 503 because the queue or intake database could not be reached.',
      registers: [registry],
    });
    this.inFlight = new Gauge({
      name: 'firebreak_api_checkout_requests_in_flight',
      help: 'Requests being worked on now (the load-shedding limit is API_MAX_IN_FLIGHT).',
      registers: [registry],
    });
    this.shed = new Counter({
      name: 'firebreak_api_shed_total',
      help: 'Requests answered 503 FB_OVERLOADED at once because too many were already in progress.',
      registers: [registry],
    });
  }

  /** Counts and times every response of `app`. */
  instrument(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      const labels = {
        method: request.method,
        // The route template, never the raw URL: ids in URLs would explode the label set.
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      };
      this.httpRequests.inc(labels);
      this.httpDuration.observe(labels, reply.elapsedTime / 1000);
    });
  }
}
