// The fence's one metric, and how it leaves a process that is about to exit.
//
// firebreak_env_fence_refusals_total{resource_kind}: resources refused
// (mismatch or unstamped). It exists at 0 for every kind from the start, so
// the first refusal is a change a rule can see.
//
// A service refuses a resource by exiting (code 3), usually before its admin
// listener is even up: nobody scrapes it. So when FIREBREAK_PUSHGATEWAY_URL is
// set, the service pushes the fence's registry to a Prometheus Pushgateway,
// grouped by service and environment: the refusal before exiting, and zeros
// after a clean start, which replace an earlier refusal of the same group
// (the alert resolves once the service starts cleanly). The push is one HTTP
// PUT, done with fetch rather than prom-client's Pushgateway class, which is
// built on the deprecated url.parse.

import { Counter, Registry } from 'prom-client';
import { RESOURCE_KINDS, type ResourceKind } from './resourceUrl.ts';

export const REFUSALS_METRIC = 'firebreak_env_fence_refusals_total';
export const PUSHGATEWAY_JOB = 'firebreak_env_fence';
// Below the connect timeouts of the services' pools (2-3 s): a refused process exits before a caller gives up waiting.
const PUSH_TIMEOUT_MS = 1_500;

export class FenceMetrics {
  /** The fence's own registry: what is pushed. */
  readonly registry = new Registry();
  private readonly refusals: Counter<'resource_kind'>;

  constructor(also?: Registry) {
    this.refusals = new Counter({
      name: 'firebreak_env_fence_refusals_total',
      help: 'Resources the environment fence refused: stamped for another environment, or unstamped and not adopted.',
      labelNames: ['resource_kind'],
      registers: also ? [this.registry, also] : [this.registry],
    });
    for (const kind of RESOURCE_KINDS) this.refusals.inc({ resource_kind: kind }, 0);
  }

  refused(kind: ResourceKind): void {
    this.refusals.inc({ resource_kind: kind });
  }
}

export interface PushTarget {
  /** The Pushgateway's base URL, e.g. http://pushgateway:9091. */
  readonly url: string;
  readonly service: string;
  readonly env: string;
}

/** PUTs the registry as the group {job, service, environment}; rejects on failure or after 1.5 s. */
export async function pushFenceMetrics(target: PushTarget, registry: Registry): Promise<void> {
  const path = [
    'metrics/job',
    PUSHGATEWAY_JOB,
    'service',
    encodeURIComponent(target.service),
    'environment',
    encodeURIComponent(target.env),
  ].join('/');
  const res = await fetch(new URL(path, target.url.endsWith('/') ? target.url : `${target.url}/`), {
    method: 'PUT',
    headers: { 'content-type': registry.contentType },
    body: await registry.metrics(),
    signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`Pushgateway answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
}
