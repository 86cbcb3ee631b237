// Coalesces concurrent calls into batches, the way a database coalesces
// commits (group commit): each caller submits one item and awaits its own
// result; the items that arrive while a batch is out go together as the next
// batch, in one call of `run`. There is no timer: a lone call goes out on the
// next turn of the event loop, so an idle system waits for nothing, and batches
// grow by themselves exactly when calls arrive faster than `run` completes.
//
// Used where one statement can do the work of many: the ledger commits
// (Ledger.commit), the queue's deletes (PostgresQueue.delete) and the intake's
// outcome updates (PostgresIntake.markOutcome). Written here rather than taken
// from a library: dataloader batches per tick for keyed reads, with a cache; we
// need per-item errors, a cap on batches in flight, and items with the same key
// kept in separate batches (one statement must not touch a row twice).

export interface BatchCallsOptions<I, O> {
  /**
   * Does the work of one batch. Returns one settled result per item, in order;
   * a throw fails every item of the batch with that error.
   */
  readonly run: (items: readonly I[]) => Promise<readonly PromiseSettledResult<O>[]>;
  /** Largest batch handed to run. */
  readonly maxBatch: number;
  /** Batches run at once; more items wait for one to finish (and join the next batch). */
  readonly maxConcurrent: number;
  /** Items with equal keys never share a batch; the later one goes in a later batch. */
  readonly keyOf?: (item: I) => string;
}

interface Waiting<I, O> {
  readonly item: I;
  readonly resolve: (value: O) => void;
  readonly reject: (err: unknown) => void;
}

export class BatchCalls<I, O> {
  private readonly o: BatchCallsOptions<I, O>;
  private waiting: Waiting<I, O>[] = [];
  private running = 0;
  private scheduled = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(options: BatchCallsOptions<I, O>) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) {
      throw new RangeError(`maxBatch must be a positive integer, got ${options.maxBatch}`);
    }
    if (!Number.isInteger(options.maxConcurrent) || options.maxConcurrent < 1) {
      throw new RangeError(`maxConcurrent must be a positive integer, got ${options.maxConcurrent}`);
    }
    this.o = options;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once nothing is waiting or running (for close()). */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.o.maxConcurrent || this.waiting.length === 0) return;
    this.scheduled = true;
    // setImmediate, not a microtask: callers woken by the same I/O event (one
    // batch's results, say) all get to submit before the next batch is cut.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const batch: Waiting<I, O>[] = [];
    const later: Waiting<I, O>[] = [];
    const keys = new Set<string>();
    for (const w of this.waiting) {
      const key = this.o.keyOf?.(w.item);
      if (batch.length >= this.o.maxBatch || (key !== undefined && keys.has(key))) {
        later.push(w);
        continue;
      }
      if (key !== undefined) keys.add(key);
      batch.push(w);
    }
    this.waiting = later;
    if (batch.length === 0) return;
    this.running++;
    void this.runBatch(batch).finally(() => {
      this.running--;
      this.schedule();
      if (this.running === 0 && this.waiting.length === 0) {
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
    });
    // Another batch may start at once if there is room and work left.
    this.schedule();
  }

  private async runBatch(batch: readonly Waiting<I, O>[]): Promise<void> {
    let results: readonly PromiseSettledResult<O>[];
    try {
      results = await this.o.run(batch.map((w) => w.item));
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const result = results[i];
      if (result === undefined)
        w.reject(new Error(`batch returned ${results.length} results for ${batch.length} items`));
      else if (result.status === 'fulfilled') w.resolve(result.value);
      else w.reject(result.reason);
    });
  }
}
