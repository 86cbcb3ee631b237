// The shared workload of bench/queue-eval.ts: who sends what, and the tracker
// that checks per-group order and one-at-a-time handling while consuming.

export interface Workload {
  readonly messages: number;
  readonly groups: number;
  readonly concurrency: number;
}

export interface RunResult {
  readonly name?: string;
  readonly messages: number;
  readonly enqueueMs: number;
  readonly consumeMs: number;
  readonly consumed: number;
  readonly orderViolations: number;
  readonly overlapViolations: number;
}

export interface ProbeResult {
  readonly candidate: string;
  readonly probe: string;
  readonly outcome: string;
}

export interface Item {
  readonly group: string;
  readonly index: number;
}

export const groupName = (g: number) => `creator-${String(g).padStart(3, '0')}`;

/**
 * Sends every message with `concurrency` producers. Producer p owns the groups
 * g ≡ p (mod concurrency) and sends their messages in order, interleaving its
 * groups, so each group's send order is its index order.
 */
export async function produce(workload: Workload, send: (item: Item) => Promise<unknown>): Promise<number> {
  const perGroup = Math.floor(workload.messages / workload.groups);
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: workload.concurrency }, async (_, p) => {
      for (let index = 0; index < perGroup; index++) {
        for (let g = p; g < workload.groups; g += workload.concurrency) {
          await send({ group: groupName(g), index });
        }
      }
    }),
  );
  return performance.now() - startedAt;
}

export function totalMessages(workload: Workload): number {
  return Math.floor(workload.messages / workload.groups) * workload.groups;
}

export class Tracker {
  consumed = 0;
  orderViolations = 0;
  overlapViolations = 0;
  private readonly next = new Map<string, number>();
  private readonly busy = new Set<string>();

  /** Call when a handler starts on an item. */
  start(item: Item): void {
    const expected = this.next.get(item.group) ?? 0;
    if (item.index !== expected) this.orderViolations++;
    this.next.set(item.group, Math.max(expected, item.index + 1));
    if (this.busy.has(item.group)) this.overlapViolations++;
    this.busy.add(item.group);
  }

  /** Call when the handler is done, before acknowledging. */
  finish(item: Item): void {
    this.busy.delete(item.group);
    this.consumed++;
  }
}

export async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}
