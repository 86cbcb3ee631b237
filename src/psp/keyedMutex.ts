// Serialises work per key: two simultaneous requests with one idempotency key
// must not both find "no result yet" and both capture. Different keys run in
// parallel. Entries are dropped when their queue empties, so the map holds
// only keys with work in flight.

export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Keys with work running or waiting. */
  get activeKeys(): number {
    return this.#tails.size;
  }
}
