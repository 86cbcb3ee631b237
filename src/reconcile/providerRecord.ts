// The provider's record as the reconciler reads it: over the provider's HTTP
// API, as a reconciler against a real PSP would (a list of results and a
// lookup by idempotency key), never from the sandbox's file. The auditor reads
// the file on purpose (it must work while the provider is down); the
// reconciler is a service and talks to the provider like one.
//
// ProviderRecordMirror keeps every result seen, by idempotency key, and
// fetches only the new tail on each refresh: the record is append-only, so an
// offset into it is a stable cursor, and a pass costs one request however big
// the record is. Before anything is repaired the key is looked up again
// (lookup), so a repair always rests on what the provider says at that moment.
// Known limit: the mirror holds the whole record in memory (about 300 bytes a
// result); a provider with hundreds of millions of results would need it in a
// table instead.

import { z } from 'zod';

/** One result the provider recorded for an idempotency key. */
export interface ProviderResult {
  readonly idempotencyKey: string;
  readonly captureId: string;
  readonly status: 'captured' | 'declined';
  readonly declineCode: string | null;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly checkoutId: string;
  readonly creatorId: string;
  readonly customerRef: string;
}

const ResultSchema = z.object({
  idempotencyKey: z.string().min(1),
  captureId: z.string().min(1),
  status: z.enum(['captured', 'declined']),
  declineCode: z.string().min(1).optional(),
  amountMinor: z.string().regex(/^[1-9][0-9]*$/),
  currency: z.string().length(3),
  checkoutId: z.string().min(1),
  creatorId: z.string().min(1),
  customerRef: z.string().min(1),
});

const PageSchema = z.object({
  captures: z.array(ResultSchema),
  nextOffset: z.number().int().min(0),
  total: z.number().int().min(0),
});

function toResult(r: z.infer<typeof ResultSchema>): ProviderResult {
  return {
    idempotencyKey: r.idempotencyKey,
    captureId: r.captureId,
    status: r.status,
    declineCode: r.declineCode ?? null,
    amountMinor: BigInt(r.amountMinor),
    currency: r.currency,
    checkoutId: r.checkoutId,
    creatorId: r.creatorId,
    customerRef: r.customerRef,
  };
}

/** The provider could not be read (down, slow, or answered something unexpected). */
export class ProviderReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProviderReadError';
  }
}

export interface ProviderRecordClientOptions {
  /** e.g. http://127.0.0.1:4100 */
  readonly baseUrl: string | URL;
  /** The provider's read credential (the sandbox: its control key). */
  readonly readKey: string;
  /** Reads are small and local to the provider's index; 5 s means it is not answering. */
  readonly timeoutMs?: number;
}

export class ProviderRecordClient {
  readonly #baseUrl: string;
  readonly #readKey: string;
  readonly #timeoutMs: number;

  constructor(options: ProviderRecordClientOptions) {
    this.#baseUrl = String(options.baseUrl);
    this.#readKey = options.readKey;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** Results from `offset` on, at most `limit`, in recording order. */
  async page(
    offset: number,
    limit: number,
  ): Promise<{ results: ProviderResult[]; nextOffset: number; total: number }> {
    const body = await this.#get(`/v1/captures?offset=${offset}&limit=${limit}`);
    const parsed = PageSchema.safeParse(body.json);
    if (!parsed.success)
      throw new ProviderReadError(
        `the provider's capture list is malformed: ${z.prettifyError(parsed.error)}`,
      );
    return {
      results: parsed.data.captures.map(toResult),
      nextOffset: parsed.data.nextOffset,
      total: parsed.data.total,
    };
  }

  /** The key's result, or null when the provider has none. */
  async lookup(idempotencyKey: string): Promise<ProviderResult | null> {
    const body = await this.#get(`/v1/captures/${encodeURIComponent(idempotencyKey)}`, [404]);
    if (body.status === 404) return null;
    const parsed = ResultSchema.safeParse(body.json);
    if (!parsed.success)
      throw new ProviderReadError(`the provider's result for ${idempotencyKey} is malformed`);
    return toResult(parsed.data);
  }

  async #get(path: string, allowed: number[] = []): Promise<{ status: number; json: unknown }> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(new URL(path, this.#baseUrl), {
        headers: { 'x-control-key': this.#readKey },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      throw new ProviderReadError(`the provider did not answer GET ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (!response.ok && !allowed.includes(response.status))
      throw new ProviderReadError(
        `the provider answered GET ${path} with ${response.status}: ${text.slice(0, 200)}`,
      );
    try {
      return { status: response.status, json: JSON.parse(text) };
    } catch (err) {
      throw new ProviderReadError(`the provider's answer to GET ${path} is not JSON`, { cause: err });
    }
  }
}

/** Every provider result seen so far, by idempotency key; refresh() fetches the new tail. */
export class ProviderRecordMirror {
  readonly #client: ProviderRecordClient;
  readonly #pageSize: number;
  readonly #byKey = new Map<string, ProviderResult>();
  #offset = 0;

  constructor(client: ProviderRecordClient, pageSize = 5_000) {
    this.#client = client;
    this.#pageSize = pageSize;
  }

  /** Fetches every result recorded since the last refresh; returns how many were new. */
  async refresh(): Promise<number> {
    let fetched = 0;
    for (;;) {
      const page = await this.#client.page(this.#offset, this.#pageSize);
      if (page.total < this.#offset)
        // The record never shrinks; a provider that lost results is a finding for a person, not a cursor reset.
        throw new ProviderReadError(
          `the provider's record shrank from ${this.#offset} to ${page.total} results`,
        );
      for (const r of page.results)
        if (!this.#byKey.has(r.idempotencyKey)) this.#byKey.set(r.idempotencyKey, r);
      fetched += page.results.length;
      this.#offset = page.nextOffset;
      if (page.results.length === 0 || this.#offset >= page.total) return fetched;
    }
  }

  get(idempotencyKey: string): ProviderResult | undefined {
    return this.#byKey.get(idempotencyKey);
  }

  /** Replaces what the mirror holds for a key with a fresh lookup. */
  remember(result: ProviderResult): void {
    this.#byKey.set(result.idempotencyKey, result);
  }

  get size(): number {
    return this.#byKey.size;
  }
}
