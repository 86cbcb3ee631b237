// What one SqsQueue client knows about its own sends and deliveries, so the
// port's answers hold where SQS's are loose:
//
// - SQS may accept DeleteMessage with an older receipt of a message that was
//   delivered again ("the request succeeds, but the message might not be
//   deleted"). A receipt this client has seen superseded, or has already
//   deleted with, is answered `false` without asking SQS.
// - A deduplicated SendMessage answers exactly like the original send (same
//   MessageId and SequenceNumber), so SQS never says "duplicate". This client
//   remembers its own sends for the 5-minute deduplication interval; a
//   duplicate of another process's send is reported as new (docs/queue.md).
// - SQS's API has no age of the oldest message. The oldest message this
//   client holds in flight gives a lower bound for stats().
//
// Every map is bounded (oldest entries go first), so a client that never
// deletes cannot grow without limit. The worker holds at most its concurrency.

const MAX_ENTRIES = 10_000;
/** SQS FIFO's deduplication interval; fixed by SQS. */
export const SQS_DEDUP_INTERVAL_MS = 5 * 60_000;

interface InFlight {
  readonly messageId: string;
  readonly sentAtMs: number;
  visibleAtMs: number;
}

export class DeliveryTracker {
  /** receipt → delivery, while this client holds it in flight. */
  private readonly inFlight = new Map<string, InFlight>();
  /** messageId → the newest receipt this client saw for it. */
  private readonly newestReceipt = new Map<string, string>();
  /** Receipts deleted with, or superseded by a newer delivery. */
  private readonly finished = new Map<string, true>();
  /** dedupId → the message its first send (by this client) made, and when. */
  private readonly sends = new Map<string, { readonly messageId: string; readonly atMs: number }>();

  delivered(receipt: string, messageId: string, sentAtMs: number, visibleAtMs: number): void {
    const previous = this.newestReceipt.get(messageId);
    if (previous !== undefined && previous !== receipt) this.finish(previous);
    remember(this.newestReceipt, messageId, receipt);
    remember(this.inFlight, receipt, { messageId, sentAtMs, visibleAtMs });
  }

  /** True when this client knows the receipt no longer controls its message. */
  isFinished(receipt: string): boolean {
    return this.finished.has(receipt);
  }

  /** The receipt was used to delete, or given up (released as an extra of its group). */
  finish(receipt: string): void {
    const delivery = this.inFlight.get(receipt);
    this.inFlight.delete(receipt);
    if (delivery && this.newestReceipt.get(delivery.messageId) === receipt) {
      this.newestReceipt.delete(delivery.messageId);
    }
    remember(this.finished, receipt, true);
  }

  visibilityChanged(receipt: string, visibleAtMs: number): void {
    const delivery = this.inFlight.get(receipt);
    if (delivery) delivery.visibleAtMs = visibleAtMs;
  }

  /** Send time of the oldest message this client still holds in flight, if any. */
  oldestInFlightSentAtMs(nowMs: number): number | undefined {
    let oldest: number | undefined;
    for (const [receipt, delivery] of this.inFlight) {
      if (delivery.visibleAtMs <= nowMs) {
        this.inFlight.delete(receipt); // visible again: no longer ours
        continue;
      }
      if (oldest === undefined || delivery.sentAtMs < oldest) oldest = delivery.sentAtMs;
    }
    return oldest;
  }

  /** Records a send's answer; true when this client already sent this dedupId into that same message. */
  sent(dedupId: string, messageId: string, nowMs: number): boolean {
    // Insertion order is send order (entries are never refreshed), so expired ones are at the front.
    for (const [id, send] of this.sends) {
      if (send.atMs + SQS_DEDUP_INTERVAL_MS > nowMs) break;
      this.sends.delete(id);
    }
    const known = this.sends.get(dedupId);
    if (known?.messageId === messageId) return true;
    remember(this.sends, dedupId, { messageId, atMs: nowMs });
    return false;
  }
}

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_ENTRIES) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}
