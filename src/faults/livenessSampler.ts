// Samples a liveness endpoint (GET, expect 200) at a fixed period and records
// each answer's latency, the way a kubelet probes a pod. It runs on its own
// worker thread so that the load the drill itself generates (a retry storm
// from the same process) cannot delay the probe's own event loop and blame
// the service for it. Plain JavaScript evaluated in the thread: no module
// loading, nothing to transpile.

import { Worker } from 'node:worker_threads';

export interface LivenessSample {
  /** ms since sampling started */
  readonly atMs: number;
  /** HTTP status; 0 when the request failed or timed out. */
  readonly status: number;
  readonly latencyMs: number;
}

export interface LivenessReport {
  readonly samples: readonly LivenessSample[];
  /** Samples that were not a 200 within the probe timeout. */
  readonly failed: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Samples slower than the target (but still answered). */
  readonly overTarget: number;
}

const SAMPLER = `
const { parentPort, workerData } = require('node:worker_threads');
const { url, periodMs, timeoutMs } = workerData;
const samples = [];
const t0 = performance.now();
let stopping = false;
parentPort.on('message', () => { stopping = true; });
(async () => {
  while (!stopping) {
    const started = performance.now();
    let status = 0;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      status = res.status;
    } catch {}
    const latencyMs = performance.now() - started;
    samples.push({ atMs: Math.round(started - t0), status, latencyMs: Math.round(latencyMs * 10) / 10 });
    const wait = periodMs - latencyMs;
    if (wait > 0 && !stopping) await new Promise((r) => setTimeout(r, wait));
  }
  parentPort.postMessage(samples);
})();
`;

export class LivenessSampler {
  private readonly worker: Worker;
  private readonly result: Promise<LivenessSample[]>;
  private readonly targetMs: number;
  private readonly timeoutMs: number;

  /**
   * Starts probing `url` every periodMs. timeoutMs is the probe's own deadline
   * (a kubelet's default is 1 s); targetMs the latency the report counts as slow.
   */
  constructor(url: string, { periodMs = 50, timeoutMs = 1_000, targetMs = 100 } = {}) {
    this.targetMs = targetMs;
    this.timeoutMs = timeoutMs;
    this.worker = new Worker(SAMPLER, { eval: true, workerData: { url, periodMs, timeoutMs } });
    this.result = new Promise((resolve, reject) => {
      this.worker.once('message', (samples: LivenessSample[]) => resolve(samples));
      this.worker.once('error', reject);
      this.worker.once('exit', (code) =>
        reject(new Error(`liveness sampler exited (${code}) before reporting`)),
      );
    });
  }

  /** Stops sampling and summarises what was seen. */
  async stop(): Promise<LivenessReport> {
    this.worker.postMessage('stop');
    const samples = await this.result.finally(() => void this.worker.terminate());
    const answered = samples.filter((s) => s.status === 200);
    const latencies = answered.map((s) => s.latencyMs).sort((a, b) => a - b);
    const pct = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
    return {
      samples,
      failed: samples.length - answered.length,
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
      maxMs: latencies.at(-1) ?? 0,
      overTarget: latencies.filter((l) => l > this.targetMs).length,
    };
  }

  /** The probe's deadline, for messages. */
  get probeTimeoutMs(): number {
    return this.timeoutMs;
  }
}
