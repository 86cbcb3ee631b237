// What every background service process (worker, scheduler, reconciler,
// relay) does the same way: an admin listener on loopback with /livez (never
// checks dependencies), /readyz (checks them) and /metrics; the IPC 'ready'
// message a supervisor waits for (src/stack/serviceProcess.ts); one graceful
// stop on SIGTERM/SIGINT (or when the parent that started us over IPC goes
// away); and the exit codes: 2 with one line for bad configuration or any
// other FB_ error, 1 for anything else.

import Fastify, { type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { isFirebreakError } from '../errors/index.ts';

export interface AdminListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  /** Readiness: resolves to a reason when not ready, undefined when ready. Liveness never calls it. */
  readonly notReady: () => Promise<string | undefined>;
  /** Extra routes (e.g. drill-only controls) registered before listening. */
  readonly routes?: (admin: FastifyInstance) => void;
}

/** Starts the admin listener; resolves with it and the port it got. */
export async function startAdminListener(
  o: AdminListenerOptions,
): Promise<{ admin: FastifyInstance; adminPort: number }> {
  const admin = Fastify({ logger: false });
  admin.get('/livez', () => ({ status: 'ok' }));
  admin.get('/readyz', async (_req, reply) => {
    const reason = await o.notReady();
    if (reason !== undefined) return reply.code(503).send({ status: 'not_ready', reason });
    return { status: 'ready' };
  });
  admin.get('/metrics', async (_req, reply) =>
    reply.type(o.registry.contentType).send(await o.registry.metrics()),
  );
  o.routes?.(admin);
  await admin.listen({ host: o.host, port: o.port });
  const address = admin.server.address();
  const adminPort = typeof address === 'object' && address ? address.port : o.port;
  return { admin, adminPort };
}

/** "<what>: <message>" when `check` throws, for /readyz. */
export async function probe(what: string, check: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await check();
    return undefined;
  } catch (err) {
    return `${what}: ${(err as Error).message}`;
  }
}

/**
 * Runs `stop` once on SIGTERM, SIGINT or (when started over IPC) the parent
 * disconnecting, logging around it, then disconnects from the parent so the
 * process can exit.
 */
export function stopOnSignals(logger: Logger, name: string, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `${name} stopping`);
    void (async () => {
      await stop();
      logger.info(`${name} stopped`);
      process.disconnect?.();
    })();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // A parent that started us over IPC and died (a crashed test runner or drill) must not leave us running.
  if (process.send) process.once('disconnect', () => onSignal('parent disconnected'));
}

/** Runs a service's main; a start failure exits 2 (FB_ errors: one line) or 1 (logged with its stack). */
export function runServiceMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (isFirebreakError(err)) {
      process.stderr.write(`${err.code}: ${err.message}\n`);
      process.exit(2);
    }
    pino().fatal({ err }, `${name} failed to start`);
    process.exit(1);
  });
}
