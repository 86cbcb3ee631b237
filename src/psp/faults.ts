// What the sandbox can be told to do wrong, and the seeded coin it flips.
//
// Every decision is a pure function of (seed, purpose, idempotency key, and for
// errors the attempt number), so a drill run is replayable from its seed and
// its request sequence, and is independent of how requests of different keys
// interleave. Declines ignore the attempt: a key's decline is its result, and a
// replay returns it. Errors include the attempt so that a retry with the same
// key can get through (otherwise an errorRate of 0.3 would fail 30 % of
// checkouts forever instead of 30 % of requests).

import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Upper bound for injected latency: long enough to outlast any client timeout, short enough to stop. */
export const MAX_LATENCY_MS = 600_000;

export interface Faults {
  /** Fraction of new keys whose capture is declined (recorded as a result). */
  readonly declineRate: number;
  /** Fraction of requests failing with 500 PSP_TRANSIENT before anything is recorded. */
  readonly errorRate: number;
  /** Fraction of new captures that are recorded and then answered with 500 PSP_TRANSIENT. */
  readonly errorAfterCaptureRate: number;
  /** Delay before each capture request is processed. */
  readonly latencyMs: number;
  /**
   * Every capture request gets 503 PSP_UNAVAILABLE at once. A fast 503 rather
   * than a hang: it is what a load balancer in front of a dead provider
   * answers, it opens the worker's breaker in a predictable number of calls,
   * and it keeps drills fast. A provider that hangs is latencyMs set above
   * the client's timeout, which is its own fault.
   */
  readonly outage: boolean;
}

export const NO_FAULTS: Faults = {
  declineRate: 0,
  errorRate: 0,
  errorAfterCaptureRate: 0,
  latencyMs: 0,
  outage: false,
};

const rate = z.number().min(0).max(1);

/** Body of PUT /control: any subset of the faults; the rest keep their value. */
export const FaultsPatchSchema = z
  .object({
    declineRate: rate,
    errorRate: rate,
    errorAfterCaptureRate: rate,
    latencyMs: z.number().int().min(0).max(MAX_LATENCY_MS),
    outage: z.boolean(),
  })
  .partial()
  .strict();

export type FaultsPatch = z.infer<typeof FaultsPatchSchema>;

export const DECLINE_CODES = ['card_declined', 'insufficient_funds', 'expired_card', 'do_not_honor'] as const;
export type DeclineCode = (typeof DECLINE_CODES)[number];

function digest(seed: string, purpose: string, key: string, attempt = 0): Buffer {
  return createHash('sha256').update(`${seed}\u0000${purpose}\u0000${key}\u0000${attempt}`).digest();
}

/** A uniform draw in [0, 1) from 48 bits of the digest. */
function draw(seed: string, purpose: string, key: string, attempt?: number): number {
  return digest(seed, purpose, key, attempt).readUIntBE(0, 6) / 2 ** 48;
}

/** The decline code for this key, or null when it is captured. */
export function decideDecline(seed: string, key: string, declineRate: number): DeclineCode | null {
  if (draw(seed, 'decline', key) >= declineRate) return null;
  const d = digest(seed, 'decline-code', key);
  return DECLINE_CODES[d.readUInt8(0) % DECLINE_CODES.length] ?? 'card_declined';
}

export function decideErrorBeforeCapture(
  seed: string,
  key: string,
  attempt: number,
  errorRate: number,
): boolean {
  return draw(seed, 'error-before', key, attempt) < errorRate;
}

export function decideErrorAfterCapture(seed: string, key: string, attempt: number, rate: number): boolean {
  return draw(seed, 'error-after', key, attempt) < rate;
}

/** The capture id a (seed, key) gets: deterministic, so a seeded run is replayable id for id. */
export function captureIdFor(seed: string, key: string): string {
  return `cap_${digest(seed, 'capture-id', key).toString('hex').slice(0, 24)}`;
}
