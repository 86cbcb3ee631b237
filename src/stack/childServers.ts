// What every throwaway server this project starts as a child process
// (Postgres, Redis) needs the same way: a last resort that SIGKILLs it if the
// process that started it exits first ('exit' handlers cannot wait, so the
// kill is synchronous), and a signal that resolves once the child is gone.

import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

interface Killable {
  killSync(): void;
}

const live = new Set<Killable>();
process.once('exit', () => {
  for (const server of live) server.killSync();
});

/** From now until forgetOnExit(), `server` is SIGKILLed if this process exits. */
export function killOnExit(server: Killable): void {
  live.add(server);
}

export function forgetOnExit(server: Killable): void {
  live.delete(server);
}

/**
 * Sends `sig` to a running child and resolves once it has exited; false
 * (and nothing sent) when there is no child or it has already exited.
 */
export async function signalAndWait(child: ChildProcess | undefined, sig: NodeJS.Signals): Promise<boolean> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return false;
  const exited = once(child, 'exit');
  child.kill(sig);
  await exited;
  return true;
}
