// Ctrl-C for fault scenarios. Once the drill is interrupted its stack is torn
// down, so a scenario must stop where it is: inject nothing more, restart
// nothing, and leave the undoing to its heal(). These helpers turn the drill's
// abort signal into a rejection at the scenario's waits, so run() unwinds
// (through its finally blocks) instead of carrying on against a stack that is
// going away.

import { setTimeout as delay } from 'node:timers/promises';

export class DrillInterrupted extends Error {
  constructor() {
    super('the drill was interrupted');
    this.name = 'DrillInterrupted';
  }
}

/** Throws if the drill was interrupted: call before injecting anything. */
export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DrillInterrupted();
}

/** Resolves or rejects with `work`, or rejects as soon as the drill is interrupted. */
export function unlessInterrupted<T>(signal: AbortSignal | undefined, work: Promise<T>): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(new DrillInterrupted());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new DrillInterrupted());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Waits ms (a fault's duration, not a synchronisation wait); rejects at once if the drill is interrupted. */
export async function faultDuration(ms: number, signal: AbortSignal | undefined): Promise<void> {
  await delay(ms, undefined, signal ? { signal } : {}).catch((err: unknown) => {
    if (signal?.aborted) throw new DrillInterrupted();
    throw err;
  });
}
