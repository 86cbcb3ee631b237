// Safe reload, as a library: a process reloads its own config namespace when
// that file changes (a watch on its directory, debounced, so an editor's
// write-and-rename or a Kubernetes ConfigMap's symlink swap are seen) or on
// SIGHUP (which also re-reads file: secret references). A reload is
//
//   load + validate -> build new resources -> verify them -> swap -> drain and dispose the old
//
// and any failure before the swap leaves the running config and resources
// exactly as they were, and says why: an event for the service's log, the
// counter firebreak_config_reloads_total{result}, and status() (served on the
// admin listener as GET /v1/admin/config). Reloads run one at a time; a
// trigger that arrives during one runs after it.
//
// Only the process's own file is watched, so a change to another service's
// namespace (or to the same service's other environment) never reloads it.

import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Counter, Gauge, type Registry } from 'prom-client';
import { fbError, isFirebreakError } from '../errors/index.ts';

export type ReloadTrigger = 'file' | 'signal' | 'manual';
/** The `result` label of firebreak_config_reloads_total. */
export type ReloadResult = 'applied' | 'unchanged' | 'invalid' | 'restart_required' | 'verify_failed';
export const RELOAD_RESULTS: readonly ReloadResult[] = [
  'applied',
  'unchanged',
  'invalid',
  'restart_required',
  'verify_failed',
];

/** A config as loaded: the values the process uses, and where they came from. */
export interface LoadedConfig<C> {
  readonly config: C;
  /** The namespace's content hash (src/config/contentHash.ts); null without a namespace file. */
  readonly hash: string | null;
  readonly env: string | null;
  readonly file: string | null;
}

export interface ReloadError {
  readonly code: string;
  readonly message: string;
  readonly at: string;
  readonly trigger: ReloadTrigger;
}

export interface ReloadOutcome<D = unknown> {
  readonly result: ReloadResult;
  readonly trigger: ReloadTrigger;
  readonly hash: string | null;
  readonly previousHash: string | null;
  readonly error?: ReloadError;
  /** What disposing the old resources reported (e.g. a pool's drain), after an applied reload. */
  readonly disposed?: D;
  readonly durationMs: number;
}

export interface ConfigStatus {
  readonly service: string;
  readonly env: string | null;
  readonly file: string | null;
  /** The content hash of the config in force. */
  readonly hash: string | null;
  readonly loadedAt: string;
  readonly lastReload: {
    readonly at: string;
    readonly trigger: ReloadTrigger;
    readonly result: ReloadResult;
  } | null;
  /** Why the file on disk is not what runs; null when it is. */
  readonly lastReloadError: ReloadError | null;
  readonly reloads: Readonly<Record<ReloadResult, number>>;
}

export interface ReloadableOptions<C, R, D> {
  readonly service: string;
  readonly initial: { readonly loaded: LoadedConfig<C>; readonly resources: R };
  /** Reads and validates the config again; throws (FB_CONFIG_INVALID) when it is invalid. */
  readonly load: () => LoadedConfig<C> | Promise<LoadedConfig<C>>;
  /** Settings that changed but cannot be applied to a running process (e.g. a listen port). */
  readonly restartOnly?: (previous: C, next: C) => readonly string[];
  /** Whether the change needs new resources; when false the new config is adopted with the old ones. */
  readonly needsRebuild: (previous: C, next: C) => boolean;
  readonly build: (config: C) => Promise<R>;
  /** Each must resolve for the new resources to be used (a round trip, an environment fence check...). */
  readonly verify: readonly ((resources: R, config: C) => Promise<void>)[];
  /** The atomic swap: from now on callers get `next`. */
  readonly activate: (next: R, previous: R) => void;
  /** Releases resources no caller is given any more (drain, then close). Also used for rejected new ones. */
  readonly dispose: (resources: R, config: C) => Promise<D>;
  /** The namespace file to watch; none (env-only config) means reload on SIGHUP only. */
  readonly watchFile?: string | null;
  readonly debounceMs?: number;
  /** Reload on SIGHUP (default true). */
  readonly sighup?: boolean;
  readonly registry?: Registry;
  /** For the service's log: every reload's outcome. */
  readonly onReload?: (outcome: ReloadOutcome<D>) => void;
  readonly onWatchError?: (err: Error) => void;
}

/** Editors save in bursts (write, rename, chmod): one reload per burst. */
export const DEFAULT_RELOAD_DEBOUNCE_MS = 250;

const RELOADS_METRIC = 'firebreak_config_reloads_total';
const INFO_METRIC = 'firebreak_config_info';

function counter(registry: Registry): Counter<'service' | 'result'> {
  return (
    (registry.getSingleMetric(RELOADS_METRIC) as Counter<'service' | 'result'> | undefined) ??
    new Counter({
      name: 'firebreak_config_reloads_total',
      help: 'Config reloads by outcome: applied, unchanged, invalid, restart_required, verify_failed.',
      labelNames: ['service', 'result'],
      registers: [registry],
    })
  );
}

function infoGauge(registry: Registry): Gauge<'service' | 'env' | 'hash'> {
  return (
    (registry.getSingleMetric(INFO_METRIC) as Gauge<'service' | 'env' | 'hash'> | undefined) ??
    new Gauge({
      name: 'firebreak_config_info',
      help: 'The config namespace in force: 1 for its content hash.',
      labelNames: ['service', 'env', 'hash'],
      registers: [registry],
    })
  );
}

function asReloadError(err: unknown, trigger: ReloadTrigger, fallback: string): ReloadError {
  const at = new Date().toISOString();
  if (isFirebreakError(err)) return { code: err.code, message: err.message, at, trigger };
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'FB_CONFIG_RELOAD_FAILED', message: `${fallback}: ${message}`, at, trigger };
}

export class ReloadableConfig<C, R, D = unknown> {
  readonly #o: ReloadableOptions<C, R, D>;
  #loaded: LoadedConfig<C>;
  #resources: R;
  #loadedAt = new Date();
  #lastText: string | undefined;
  #lastReload: ConfigStatus['lastReload'] = null;
  #lastError: ReloadError | null = null;
  readonly #counts = Object.fromEntries(RELOAD_RESULTS.map((r) => [r, 0])) as Record<ReloadResult, number>;
  #chain: Promise<unknown> = Promise.resolve();
  #queued: Promise<ReloadOutcome<D>> | null = null;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #onSighup = () => void this.reload('signal');
  readonly #reloads: Counter<'service' | 'result'> | undefined;
  readonly #info: Gauge<'service' | 'env' | 'hash'> | undefined;

  constructor(options: ReloadableOptions<C, R, D>) {
    this.#o = options;
    this.#loaded = options.initial.loaded;
    this.#resources = options.initial.resources;
    if (options.registry) {
      this.#reloads = counter(options.registry);
      for (const result of RELOAD_RESULTS) this.#reloads.inc({ service: options.service, result }, 0);
      this.#info = infoGauge(options.registry);
      this.#publishInfo();
    }
  }

  /** Starts watching the file and listening for SIGHUP. */
  async start(): Promise<this> {
    const file = this.#o.watchFile;
    if (file) {
      this.#lastText = await readFile(file, 'utf8').catch(() => undefined);
      const name = basename(file);
      this.#watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
        // Kubernetes swaps a ConfigMap through a "..data" symlink; other files in the directory are not ours.
        if (changed !== null && changed !== name && !changed.startsWith('..')) return;
        clearTimeout(this.#debounce);
        this.#debounce = setTimeout(
          () => void this.reload('file'),
          this.#o.debounceMs ?? DEFAULT_RELOAD_DEBOUNCE_MS,
        );
        this.#debounce.unref();
      });
      this.#watcher.on('error', (err) => this.#o.onWatchError?.(err));
    }
    if (this.#o.sighup !== false) process.on('SIGHUP', this.#onSighup);
    return this;
  }

  /** The config in force. */
  get config(): C {
    return this.#loaded.config;
  }

  /** The resources in force. */
  get resources(): R {
    return this.#resources;
  }

  status(): ConfigStatus {
    return {
      service: this.#o.service,
      env: this.#loaded.env,
      file: this.#loaded.file,
      hash: this.#loaded.hash,
      loadedAt: this.#loadedAt.toISOString(),
      lastReload: this.#lastReload,
      lastReloadError: this.#lastError,
      reloads: { ...this.#counts },
    };
  }

  /** Reloads now (after any reload under way). Never throws: the outcome says what happened. */
  reload(trigger: ReloadTrigger = 'manual'): Promise<ReloadOutcome<D>> {
    if (this.#queued) return this.#queued;
    const run = this.#chain.then(() => {
      this.#queued = null;
      return this.#reloadOnce(trigger);
    });
    this.#queued = run;
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Stops watching and listening; waits for a reload under way. Does not dispose the resources in force. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#debounce);
    this.#watcher?.close();
    process.off('SIGHUP', this.#onSighup);
    await this.#chain;
  }

  #publishInfo(): void {
    if (!this.#info) return;
    this.#info.reset();
    this.#info.set(
      { service: this.#o.service, env: this.#loaded.env ?? '', hash: this.#loaded.hash ?? '' },
      1,
    );
  }

  #finish(
    result: ReloadResult,
    trigger: ReloadTrigger,
    started: number,
    previousHash: string | null,
    extra: { error?: ReloadError; disposed?: D; hash?: string | null } = {},
  ): ReloadOutcome<D> {
    this.#counts[result]++;
    this.#reloads?.inc({ service: this.#o.service, result });
    this.#lastReload = { at: new Date().toISOString(), trigger, result };
    this.#lastError = extra.error ?? null;
    const outcome: ReloadOutcome<D> = {
      result,
      trigger,
      hash: extra.hash !== undefined ? extra.hash : this.#loaded.hash,
      previousHash,
      durationMs: Math.round(performance.now() - started),
      ...(extra.error ? { error: extra.error } : {}),
      ...(extra.disposed !== undefined ? { disposed: extra.disposed } : {}),
    };
    this.#o.onReload?.(outcome);
    return outcome;
  }

  async #reloadOnce(trigger: ReloadTrigger): Promise<ReloadOutcome<D>> {
    const started = performance.now();
    const current = this.#loaded;
    const previousHash = current.hash;
    if (this.#closed) return this.#finish('unchanged', trigger, started, previousHash);
    const file = this.#o.watchFile;
    if (trigger === 'file' && file) {
      // A touch, or a write of the same bytes, is not a change.
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text !== undefined && text === this.#lastText)
        return { result: 'unchanged', trigger, hash: previousHash, previousHash, durationMs: 0 };
      this.#lastText = text;
    }

    let next: LoadedConfig<C>;
    try {
      next = await this.#o.load();
    } catch (err) {
      return this.#finish('invalid', trigger, started, previousHash, {
        error: asReloadError(err, trigger, 'the config could not be loaded'),
        hash: null,
      });
    }
    if (isDeepStrictEqual(next.config, current.config) && next.hash === current.hash)
      return this.#finish('unchanged', trigger, started, previousHash);

    const restart = this.#o.restartOnly?.(current.config, next.config) ?? [];
    if (restart.length > 0)
      return this.#finish('restart_required', trigger, started, previousHash, {
        hash: next.hash,
        error: {
          code: 'FB_CONFIG_RESTART_REQUIRED',
          message: `${this.#o.service}: ${restart.join(', ')} changed, which a running process cannot apply; nothing was reloaded. Restart the process to run this file (${next.hash ?? 'no hash'}).`,
          at: new Date().toISOString(),
          trigger,
        },
      });

    if (!this.#o.needsRebuild(current.config, next.config)) {
      this.#loaded = next;
      this.#loadedAt = new Date();
      this.#publishInfo();
      return this.#finish('applied', trigger, started, previousHash);
    }

    let built: R;
    try {
      built = await this.#o.build(next.config);
    } catch (err) {
      return this.#finish('verify_failed', trigger, started, previousHash, {
        hash: next.hash,
        error: asReloadError(err, trigger, 'the new resources could not be built'),
      });
    }
    try {
      for (const check of this.#o.verify) await check(built, next.config);
    } catch (err) {
      await this.#o.dispose(built, next.config).catch(() => {});
      const error = asReloadError(err, trigger, 'the new resources failed verification');
      return this.#finish('verify_failed', trigger, started, previousHash, {
        hash: next.hash,
        error: {
          ...error,
          message: `${this.#o.service}: the reload to ${next.hash ?? 'the new config'} was not applied, the old config keeps running: ${error.message}`,
        },
      });
    }

    const previous = this.#resources;
    const previousConfig = current.config;
    this.#o.activate(built, previous);
    this.#resources = built;
    this.#loaded = next;
    this.#loadedAt = new Date();
    this.#publishInfo();
    // Disposal waits for work already given the old resources; the reload is
    // applied from the swap on, so it is counted once the old ones are closed.
    const disposed = await this.#o.dispose(previous, previousConfig);
    return this.#finish('applied', trigger, started, previousHash, { disposed });
  }
}

/** Wraps a failed verification step with the stable code for a refused reload. */
export function verificationFailed(step: string, err: unknown): Error {
  return fbError('FB_CONFIG_RELOAD_FAILED', `${step}: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}
