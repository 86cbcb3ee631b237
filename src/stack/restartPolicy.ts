// When the supervisor restarts a crashed process: exponential backoff with a
// cap, reset after the process has stayed up for a while, the way a
// Kubernetes pod restart (CrashLoopBackOff) behaves. Kubernetes uses 10 s
// doubling to 5 min, reset after 10 min up; a staging stack on one machine
// wants its services back sooner, so the defaults here are 1 s doubling to
// 60 s, reset after 2 min up. Pure: the supervisor keeps the clock.

import { z } from 'zod';

export const RestartPolicy = z.object({
  /** Delay before the first restart of a crash loop. */
  initialDelayMs: z.number().int().min(0).max(3_600_000),
  /** The cap the doubling stops at. */
  maxDelayMs: z.number().int().min(0).max(3_600_000),
  /** A process that stayed up this long has left its crash loop: the next crash starts over. */
  resetAfterMs: z.number().int().min(0).max(86_400_000),
});
export type RestartPolicy = z.infer<typeof RestartPolicy>;

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 1_000,
  maxDelayMs: 60_000,
  resetAfterMs: 120_000,
};

/** One process's crash loop. */
export class CrashLoop {
  private readonly policy: RestartPolicy;
  /** Restarts in the current loop (0 after a reset). */
  private streak = 0;
  private upSince: number | undefined;

  constructor(policy: RestartPolicy) {
    this.policy = policy;
  }

  /** The process became ready at `now`. */
  started(now: number): void {
    this.upSince = now;
  }

  /** The process died at `now`: how long to wait before starting it again. */
  crashed(now: number): number {
    if (this.upSince !== undefined && now - this.upSince >= this.policy.resetAfterMs) this.streak = 0;
    this.upSince = undefined;
    const delay = Math.min(
      this.policy.maxDelayMs,
      this.policy.initialDelayMs * 2 ** Math.min(this.streak, 30),
    );
    this.streak++;
    return delay;
  }
}
