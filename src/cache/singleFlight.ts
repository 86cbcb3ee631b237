// Single-flight: concurrent calls for one key share one execution. The first
// caller runs the work; callers arriving while it runs get the same promise
// (and its same outcome, success or failure); the key is free again as soon
// as it settles. Nothing is cached here: that is Redis's job.
//
// Written here (a Map of promises) rather than taken from a library: the npm
// single-flight packages are this same map, and owning it lets the guard
// count joined waits for the coalesced-waits metric.

export class SingleFlight {
  private readonly inFlight = new Map<string, Promise<unknown>>();

  /** Keys with an execution in progress. */
  get size(): number {
    return this.inFlight.size;
  }

  /**
   * Runs `work` for `key` unless it is already running, in which case the
   * caller joins it; `onJoin` is called for each caller that joined.
   */
  run<T>(key: string, work: () => Promise<T>, onJoin?: () => void): Promise<T> {
    const running = this.inFlight.get(key);
    if (running) {
      onJoin?.();
      return running as Promise<T>;
    }
    const started = (async () => {
      try {
        return await work();
      } finally {
        this.inFlight.delete(key);
      }
    })();
    this.inFlight.set(key, started);
    return started;
  }
}
