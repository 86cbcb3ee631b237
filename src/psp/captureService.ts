// The capture decision, apart from HTTP: given a valid request, answer with the
// key's recorded result, or decide, record (durably) and answer a new one.
// The order of the steps is the contract the drills rely on:
//
//   outage → latency → outage again → error-before-capture (nothing recorded) → per-key lock →
//   replay | conflict | decide decline → append + fsync → error-after-capture
//
// so an error-after-capture is a result the client never heard about, which a
// retry with the same key then receives as a replay.

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { CurrencyCode } from '../money/index.ts';
import type { CaptureLog } from './captureLog.ts';
import type { CaptureRecord } from './captureRecord.ts';
import {
  captureIdFor,
  decideDecline,
  decideErrorAfterCapture,
  decideErrorBeforeCapture,
  type Faults,
} from './faults.ts';
import { KeyedMutex } from './keyedMutex.ts';
import { pspError, type PspHttpError } from './pspErrors.ts';
import type { SandboxMetrics } from './sandboxMetrics.ts';

export interface CaptureInput {
  readonly checkoutId: string;
  readonly creatorId: string;
  readonly customerRef: string;
  readonly amountMinor: bigint;
  readonly currency: CurrencyCode;
}

export interface CaptureAnswer {
  readonly record: CaptureRecord;
  /** True when the key already had a result and this is it again. */
  readonly replayed: boolean;
}

export interface CaptureServiceDeps {
  readonly seed: string;
  readonly log: CaptureLog;
  readonly metrics: SandboxMetrics;
  readonly logger: Logger;
  readonly faults: () => Faults;
  readonly now: () => Date;
  /** Aborted when the sandbox shuts down: requests still waiting out injected latency give up. */
  readonly shutdown: AbortSignal;
}

/** The canonical body hash: field order fixed, amounts as digit strings. */
export function requestHashOf(input: CaptureInput): string {
  const canonical = JSON.stringify([
    input.checkoutId,
    input.creatorId,
    input.customerRef,
    input.amountMinor.toString(),
    input.currency,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

export class CaptureService {
  readonly #deps: CaptureServiceDeps;
  readonly #mutex = new KeyedMutex();
  /** Requests seen per key in this process: the attempt number error decisions are drawn with. */
  readonly #attempts = new Map<string, number>();

  constructor(deps: CaptureServiceDeps) {
    this.#deps = deps;
  }

  async capture(idempotencyKey: string, input: CaptureInput): Promise<CaptureAnswer> {
    const { seed, metrics, logger } = this.#deps;
    const latencyMs = this.#deps.faults().latencyMs;
    if (latencyMs > 0) {
      try {
        await sleep(latencyMs, undefined, { signal: this.#deps.shutdown });
      } catch (err) {
        throw pspError('PSP_UNAVAILABLE', 'The sandbox is shutting down; retry with the same key', {
          cause: err,
        });
      }
    }
    // An outage switched on while this request waited out its latency applies to it too.
    const unavailable = this.unavailableError();
    if (unavailable) throw unavailable;

    const attempt = (this.#attempts.get(idempotencyKey) ?? 0) + 1;
    this.#attempts.set(idempotencyKey, attempt);
    if (decideErrorBeforeCapture(seed, idempotencyKey, attempt, this.#deps.faults().errorRate)) {
      metrics.faults.inc({ fault: 'error_before_capture' });
      logger.info({ idempotencyKey, attempt }, 'injected error before capture');
      throw pspError(
        'PSP_TRANSIENT',
        'Transient provider error; nothing was captured, retry with the same key',
      );
    }

    const requestHash = requestHashOf(input);
    return this.#mutex.run(idempotencyKey, async () => {
      const existing = this.#deps.log.get(idempotencyKey);
      if (existing) {
        if (existing.requestHash !== requestHash) {
          throw pspError(
            'PSP_IDEMPOTENCY_CONFLICT',
            `Idempotency key was already used for a different request (capture ${existing.captureId})`,
            { field: 'header.idempotency-key' },
          );
        }
        metrics.replays.inc();
        return { record: existing, replayed: true };
      }

      const declineCode = decideDecline(seed, idempotencyKey, this.#deps.faults().declineRate);
      const record: CaptureRecord = {
        captureId: captureIdFor(seed, idempotencyKey),
        idempotencyKey,
        requestHash,
        ...input,
        status: declineCode === null ? 'captured' : 'declined',
        declineCode,
        createdAt: this.#deps.now(),
      };
      try {
        await this.#deps.log.append(record);
      } catch (err) {
        throw pspError('PSP_INTERNAL', 'The sandbox could not record the capture; nothing was captured', {
          cause: err,
        });
      }
      (declineCode === null ? metrics.captures : metrics.declines).inc();
      logger.debug(
        { idempotencyKey, captureId: record.captureId, status: record.status },
        'capture recorded',
      );

      if (decideErrorAfterCapture(seed, idempotencyKey, attempt, this.#deps.faults().errorAfterCaptureRate)) {
        metrics.faults.inc({ fault: 'error_after_capture' });
        logger.info({ idempotencyKey, captureId: record.captureId }, 'injected error after capture');
        // The client cannot tell this from an error before capture: that is the point.
        throw pspError('PSP_TRANSIENT', 'Transient provider error; retry with the same key');
      }
      return { record, replayed: false };
    });
  }

  /** The error every capture request gets during an injected outage. */
  unavailableError(): PspHttpError | undefined {
    if (!this.#deps.faults().outage) return undefined;
    this.#deps.metrics.faults.inc({ fault: 'outage' });
    return pspError(
      'PSP_UNAVAILABLE',
      'The provider is unavailable (injected outage); retry later with the same key',
    );
  }
}
