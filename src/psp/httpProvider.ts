// The PaymentProvider adapter for an HTTP provider speaking the sandbox's
// protocol (POST /v1/captures with an Idempotency-Key). One request per call,
// bounded by the resilience module's timeout (cooperative: its AbortSignal
// reaches fetch, so a slow request is aborted, not left running), no retries
// here: the worker calls capture() through its outbound policy (src/resilience:
// full-jitter backoff, retry budget, breaker), which retries what
// retryableStatus() and the transport errors below call retryable. Retrying a
// capture is safe only because the idempotency key is stable per checkout.

import http from 'node:http';
import https from 'node:https';
import type { TimeoutPolicy } from 'cockatiel';
import { z } from 'zod';
import { timeoutPolicy } from '../resilience/index.ts';
import { ProviderError, type CaptureRequest, type CaptureResult, type PaymentProvider } from './Provider.ts';

/**
 * A capture normally answers in milliseconds. Past 10 s the worker is better
 * off giving up and asking again with the same key (which is safe) than
 * holding a message: the queue's visibility timeout is 300 s and the worker's
 * retries must fit well inside it.
 */
export const DEFAULT_CAPTURE_TIMEOUT_MS = 10_000;

export interface HttpProviderOptions {
  /** e.g. http://127.0.0.1:4100 */
  readonly baseUrl: string | URL;
  readonly timeoutMs?: number;
  /**
   * Injected in tests. Default: node:http(s) on a keep-alive agent, not the
   * global fetch — measured (bench/checkout/providerClientCost.ts) at about a
   * third of fetch's client CPU per capture, which was ~30% of the worker's
   * cost per settled checkout (docs/performance.md).
   */
  readonly fetch?: typeof fetch;
  /** Connections kept open to the provider (default 128: above the worker's concurrency). */
  readonly maxSockets?: number;
}

interface Exchange {
  readonly status: number;
  readonly text: string;
}

type Post = (
  url: URL,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
) => Promise<Exchange>;

function fetchPost(f: typeof fetch): Post {
  return async (url, headers, body, signal) => {
    const response = await f(url, { method: 'POST', headers, body, signal });
    return { status: response.status, text: await response.text() };
  };
}

/** One POST on a keep-alive agent; the signal aborts it (connect, request and body). */
function agentPost(url: URL, maxSockets: number): Post {
  const tls = url.protocol === 'https:';
  const agent = tls
    ? new https.Agent({ keepAlive: true, maxSockets })
    : new http.Agent({ keepAlive: true, maxSockets });
  const request = tls ? https.request : http.request;
  return (target, headers, body, signal) =>
    new Promise<Exchange>((resolve, reject) => {
      const req = request(
        target,
        {
          method: 'POST',
          agent,
          signal,
          headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.once('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.once('error', reject);
        },
      );
      req.once('error', reject);
      req.end(body);
    });
}

const CaptureResponseSchema = z.object({
  captureId: z.string().min(1),
  status: z.enum(['captured', 'declined']),
  declineCode: z.string().min(1).optional(),
  amountMinor: z.string().regex(/^[0-9]+$/),
  currency: z.string(),
  idempotencyKey: z.string(),
  createdAt: z.string(),
});

const ErrorBodySchema = z.object({
  error: z.object({ code: z.string().min(1), message: z.string() }),
});

/**
 * Statuses after which the same request may succeed: the provider's own
 * failures (5xx), throttling (429), and request timeouts (408, 425). Every
 * other 4xx says the request itself is wrong and will stay wrong.
 */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408 || status === 425;
}

export class HttpProvider implements PaymentProvider {
  readonly #url: URL;
  readonly #timeoutMs: number;
  readonly #timeout: TimeoutPolicy;
  readonly #post: Post;

  constructor(options: HttpProviderOptions) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_CAPTURE_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(`timeoutMs must be a positive integer, got ${timeoutMs}`);
    }
    this.#url = new URL('/v1/captures', options.baseUrl);
    this.#timeoutMs = timeoutMs;
    this.#timeout = timeoutPolicy(timeoutMs, 'cooperative');
    this.#post = options.fetch ? fetchPost(options.fetch) : agentPost(this.#url, options.maxSockets ?? 128);
  }

  /** `signal` (the caller's policy, or its shutdown) aborts the request too. */
  async capture(request: CaptureRequest, signal?: AbortSignal): Promise<CaptureResult> {
    const body = JSON.stringify({
      checkoutId: request.checkoutId,
      creatorId: request.creatorId,
      customerRef: request.customerRef,
      amountMinor: request.amountMinor.toString(),
      currency: request.currency,
    });
    let status: number;
    let text: string;
    try {
      // One signal bounds the whole exchange, body included.
      ({ status, text } = await this.#timeout.execute(
        ({ signal: attempt }) =>
          this.#post(
            this.#url,
            { 'content-type': 'application/json', 'idempotency-key': request.idempotencyKey },
            body,
            attempt,
          ),
        signal,
      ));
    } catch (err) {
      throw transportError(err, this.#timeoutMs, signal?.aborted === true);
    }

    if (status === 200 || status === 201) return parseOutcome(request, status, text);
    throw httpError(status, text);
  }
}

function transportError(err: unknown, timeoutMs: number, cancelled: boolean): ProviderError {
  if (cancelled) {
    // Whether the provider captured is unknown, as after a timeout: the same key finds out.
    return new ProviderError(
      'PSP_CANCELLED',
      'capture cancelled by the caller before the provider answered',
      {
        retryable: true,
        cause: err,
      },
    );
  }
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new ProviderError('PSP_TIMEOUT', `provider did not answer within ${timeoutMs} ms`, {
      retryable: true,
      cause: err,
    });
  }
  const detail = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
  return new ProviderError('PSP_NETWORK', `provider unreachable: ${detail}`, { retryable: true, cause: err });
}

function httpError(status: number, text: string): ProviderError {
  let code = `PSP_HTTP_${status}`;
  let message = text.slice(0, 200);
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) ({ code, message } = parsed.data.error);
  } catch {
    // Not JSON (a proxy's error page, say): the status alone decides.
  }
  return new ProviderError(code, `provider answered ${status} ${code}: ${message}`, {
    retryable: retryableStatus(status),
    statusCode: status,
  });
}

function parseOutcome(request: CaptureRequest, status: number, text: string): CaptureResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw badResponse(status, 'body is not JSON', err);
  }
  const parsed = CaptureResponseSchema.safeParse(json);
  if (!parsed.success) throw badResponse(status, z.prettifyError(parsed.error).replaceAll('\n', '; '));
  const r = parsed.data;
  // The key names one request; an answer about another one is a provider bug
  // that no retry fixes, and must never be booked as this checkout's charge.
  if (
    r.idempotencyKey !== request.idempotencyKey ||
    r.amountMinor !== request.amountMinor.toString() ||
    r.currency !== request.currency
  ) {
    throw new ProviderError(
      'PSP_MISMATCH',
      `provider answered key ${r.idempotencyKey} with ${r.amountMinor} ${r.currency}; ` +
        `asked key ${request.idempotencyKey} for ${request.amountMinor} ${request.currency}`,
      { retryable: false, statusCode: status },
    );
  }
  if (r.status === 'captured') return { outcome: 'captured', captureId: r.captureId };
  if (r.declineCode === undefined) throw badResponse(status, 'declined without a declineCode');
  return { outcome: 'declined', declineCode: r.declineCode, captureId: r.captureId };
}

function badResponse(status: number, detail: string, cause?: unknown): ProviderError {
  // A success status with an unreadable body: retrying would read the same replay.
  return new ProviderError(
    'PSP_BAD_RESPONSE',
    `provider answered ${status} with an unreadable body: ${detail}`,
    {
      retryable: false,
      statusCode: status,
      cause,
    },
  );
}
