// A client for the sandbox's control plane, for drills and tests: switch
// faults at run time and list what the sandbox recorded.

import type { Faults, FaultsPatch } from './faults.ts';
import type { CaptureResponseBody } from './sandboxServer.ts';

export interface SandboxControlState {
  readonly faults: Faults;
  readonly seed: string;
  /** Results in captures.jsonl. */
  readonly recorded: number;
}

export interface SandboxCaptureListItem extends CaptureResponseBody {
  readonly checkoutId: string;
  readonly creatorId: string;
  readonly customerRef: string;
}

/** Control calls are local and tiny; anything slower than this is a stuck sandbox. */
const CONTROL_TIMEOUT_MS = 5_000;

export class SandboxControl {
  readonly #baseUrl: string;
  readonly #controlKey: string;

  constructor(baseUrl: string | URL, controlKey: string) {
    this.#baseUrl = String(baseUrl);
    this.#controlKey = controlKey;
  }

  state(): Promise<SandboxControlState> {
    return this.#call<SandboxControlState>('GET', '/control');
  }

  /** Changes the named faults; the others keep their value. */
  setFaults(patch: FaultsPatch): Promise<SandboxControlState> {
    return this.#call<SandboxControlState>('PUT', '/control', patch);
  }

  async listCaptures(): Promise<SandboxCaptureListItem[]> {
    const body = await this.#call<{ captures: SandboxCaptureListItem[] }>('GET', '/v1/captures');
    return body.captures;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(new URL(path, this.#baseUrl), {
      method,
      headers: {
        'x-control-key': this.#controlKey,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`sandbox ${method} ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text) as T;
  }
}
