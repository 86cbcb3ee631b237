// Entry of the supervisor process `firebreak up` and `firebreak restore`
// start (supervisor.ts). It is forked detached, in its own session, so it
// outlives the command and a Ctrl-C in that terminal; it receives its
// configuration over IPC, answers { type: 'ready', state } or
// { type: 'failed', code, message }, and keeps running after the command
// disconnects. Its log (pino JSON lines) is supervisor.log in the state
// directory.

import { rm } from 'node:fs/promises';
import pino from 'pino';
import { isFirebreakError } from '../errors/index.ts';
import type { EmbeddedStack } from '../drill/embeddedStack.ts';
import { verifyRestoredStore } from './snapshot/restoreSnapshot.ts';
import { StackSupervisor, SupervisorConfig } from './supervisor.ts';

const logger = pino({ base: { service: 'supervisor', pid: process.pid } });

function send(message: Record<string, unknown>): void {
  if (process.connected) process.send?.(message);
}

async function main(raw: unknown): Promise<void> {
  const parsed = SupervisorConfig.safeParse((raw as { config?: unknown } | null)?.config);
  if (!parsed.success) {
    send({
      type: 'failed',
      code: 'FB_STACK_START_FAILED',
      message: `bad supervisor config: ${parsed.error.message}`,
    });
    process.exit(1);
  }
  const config = parsed.data;
  let supervisor: StackSupervisor | undefined;
  let stopRequested = false;
  let stopping: Promise<void> | undefined;
  const stop = (why: string, code: number) => {
    stopRequested = true;
    if (!supervisor) return; // booting: stopped once start() returns
    logger.info({ why }, 'supervisor stopping');
    stopping ??= supervisor.shutdown().then(
      () => process.exit(code),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM', 0));
  process.on('SIGINT', () => stop('SIGINT', 0));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'supervisor crashed; stopping the stack');
    stop('uncaught exception', 1);
  });
  // The command that started us disconnects once we are ready; that is not a reason to stop.
  process.on('disconnect', () => logger.info('command disconnected; supervising on'));

  const restore = config.restore;
  const verifyRestore = restore
    ? async (stack: EmbeddedStack) => {
        for (const store of restore.stores)
          await verifyRestoredStore(
            store.role === 'ledger' ? stack.ledgerServer! : stack.queueServer!,
            store,
          );
      }
    : undefined;
  try {
    supervisor = await StackSupervisor.start(config, logger, {
      verifyRestore,
      onProgress: (message) => {
        logger.info(message);
        send({ type: 'progress', message });
      },
    });
  } catch (err) {
    logger.error({ err }, 'the stack did not start');
    const code = isFirebreakError(err)
      ? err.code
      : restore
        ? 'FB_SNAPSHOT_VERIFY_FAILED'
        : 'FB_STACK_START_FAILED';
    send({ type: 'failed', code, message: (err as Error).message });
    await rm(config.stateDir, { recursive: true, force: true });
    process.exit(1);
  }
  logger.info({ components: supervisor.state().components.length }, 'stack is up');
  send({ type: 'ready', state: supervisor.state() });
  if (stopRequested) stop('stop requested while starting', 0);
}

process.once('message', (message) => {
  main(message).catch((err: unknown) => {
    logger.fatal({ err }, 'supervisor failed');
    process.exit(1);
  });
});
