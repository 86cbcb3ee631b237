// Scenario worker-kill: SIGKILL the payment worker while it holds messages
// mid-charge (received, maybe captured at the provider, not yet committed or
// deleted), then restart it after a short seeded delay, as a supervisor or a
// Kubernetes pod restart would.
//
// What it proves: a crash anywhere between receive and delete is harmless.
// The messages the dead worker held come back when their visibility runs out
// and the new worker finishes them: the provider returns the original capture
// for the same idempotency key and the ledger row is written once. The
// scenario measures restart → first commit and how long the held messages
// took to settle (about the visibility timeout); the drill's audit then
// proves no capture happened twice and nothing was lost.

import { PipelineProbe, scrapeCounter } from '../../faults/pipelineProbe.ts';
import { faultDuration, throwIfInterrupted, unlessInterrupted } from '../../faults/interrupt.ts';
import { waitFor } from '../../util/waitFor.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.ts';

/** Checkouts sent just before the kill, so the worker has messages in hand. */
const CHECKOUTS_BEFORE_FAULT = 40;
/** Checkouts sent while the worker is dead. */
const CHECKOUTS_DURING_FAULT = 60;
const RECOVERY_TIMEOUT_MS = 120_000;
/** Held messages reappear after the visibility timeout (15 s in a drill); this bounds the wait for all of them. */
const HELD_SETTLE_SLACK_MS = 90_000;

export const workerKillScenario: Scenario = {
  name: 'worker-kill',
  description:
    'SIGKILL the payment worker mid-charge, restart it; held messages redelivered, none captured twice',
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const { stack, rng } = ctx;
    const worker = stack.worker;
    if (!worker) throw new Error('worker-kill: the stack has no worker');
    const probe = new PipelineProbe(stack);
    try {
      const killAfterCommits = rng.int(15, 40);
      const downMs = rng.int(500, 2_000);
      // Work of its own, so the worker is busy at the kill however far the drill's traffic got.
      const load = ctx.sendCheckouts(CHECKOUTS_BEFORE_FAULT);
      // Mid-charge: after some commits, at a moment the worker holds messages.
      let held: string[] = [];
      await unlessInterrupted(
        ctx.signal,
        waitFor(
          'the worker to be holding messages mid-charge',
          async () => {
            if (((await probe.committed()) ?? 0) < killAfterCommits) return false;
            held = await probe.inFlightCheckouts();
            return held.length > 0;
          },
          { timeoutMs: 120_000, intervalMs: 50 },
        ),
      );
      throwIfInterrupted(ctx.signal);
      const killedAt = ctx.mark('inject', `worker SIGKILLed holding ${held.length} messages`);
      await worker.kill();
      // Messages it held a moment before the kill may have completed meanwhile; count what is still open.
      const stillHeld = held.length - ((await probe.settledOf(held)) ?? 0);
      const sending = ctx.sendCheckouts(CHECKOUTS_DURING_FAULT);
      // Interrupted here, the worker stays dead: the stack's teardown follows.
      await faultDuration(downMs, ctx.signal);
      const restartedAt = performance.now();
      await worker.start();
      ctx.mark('heal', `worker restarted after ${downMs} ms`);

      const recoveryMs = await ctx.firstCommitAfter(restartedAt, RECOVERY_TIMEOUT_MS).then(
        (ms) => ms,
        () => null,
      );
      if (recoveryMs !== null) ctx.mark('recovered', `first charge ${recoveryMs} ms after the restart`);
      const heldSettled = await unlessInterrupted(
        ctx.signal,
        waitFor(
          'the messages the killed worker held to settle',
          async () => ((await probe.settledOf(held)) ?? 0) >= held.length,
          { timeoutMs: stack.options.visibilityTimeoutSec * 1000 + HELD_SETTLE_SLACK_MS, intervalMs: 250 },
        ).then(
          () => true,
          () => false,
        ),
      );
      const heldSettledMs = Math.round(performance.now() - killedAt);
      if (heldSettled) ctx.mark('recovered', `every held message settled ${heldSettledMs} ms after the kill`);
      const during = await sending;
      const before = await load;
      // The new worker's count of messages it received more than once.
      const redeliveries = await scrapeCounter(
        `http://127.0.0.1:${String(worker.ready.adminPort)}/metrics`,
        'checkout_service_retry_count',
      );

      const violations: string[] = [];
      if (recoveryMs === null)
        violations.push(`no charge committed within ${RECOVERY_TIMEOUT_MS / 1000}s of the restart`);
      if (!heldSettled)
        violations.push(
          `the messages the killed worker held did not all settle within ${stack.options.visibilityTimeoutSec}s + ${HELD_SETTLE_SLACK_MS / 1000}s`,
        );
      if (during.clientVisibleErrors + before.clientVisibleErrors > 0)
        violations.push(
          `${during.clientVisibleErrors + before.clientVisibleErrors} client-visible errors around the worker kill`,
        );
      return {
        verdict: violations.length === 0 ? 'pass' : 'fail',
        summary: `worker killed holding ${held.length} messages (${stillHeld} unfinished), restarted after ${(downMs / 1000).toFixed(1)}s: first charge ${recoveryMs === null ? 'never' : `${(recoveryMs / 1000).toFixed(1)}s`} after restart, held messages settled ${heldSettled ? `${(heldSettledMs / 1000).toFixed(1)}s` : 'never'} after the kill, ${redeliveries ?? '?'} redeliveries`,
        measurements: {
          killAfterCommits,
          downMs,
          heldAtKill: held.length,
          unfinishedAtKill: stillHeld,
          restartToFirstChargeMs: recoveryMs,
          killToHeldSettledMs: heldSettled ? heldSettledMs : null,
          visibilityTimeoutMs: stack.options.visibilityTimeoutSec * 1000,
          redeliveries,
          acceptedDuringFault: during.accepted,
          clientErrorsDuringFault: during.clientVisibleErrors,
        },
        violations,
        recoveryMs,
      };
    } finally {
      await probe.close();
    }
  },
  /** Idempotent: a running worker is left alone. On Ctrl-C the stack's teardown follows, so nothing is restarted. */
  async heal(ctx) {
    const worker = ctx.stack.worker;
    if (ctx.signal?.aborted || !worker || worker.running) return;
    await worker.start();
  },
};
