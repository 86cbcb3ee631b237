// The fence on every new Postgres connection, before its first use. A pool
// that reconnects after a failover may reach a different server behind the
// same DNS name; checking the stamp once at start-up would not notice.
//
// Two ways in:
// - fencePoolOnConnect(fence): pg-pool's `onConnect` option, for a pool you
//   construct. pg-pool awaits it before handing the new client out and ends
//   the client if it rejects. It exists since pg-pool 3.12 (node-postgres
//   PR #3620, 2026); older pools only have the 'connect' event, which cannot
//   hold a client back while an async check runs.
// - installPgConnectionFence(fence): process-wide, for a service whose pools
//   live inside adapters it does not construct (Ledger, PostgresQueue,
//   PostgresIntake) and whose migrations open their own clients. It wraps
//   pg.Client.prototype.connect, the one place every physical connection of
//   node-postgres goes through, whatever pg-pool version made it: connect()
//   resolves only after the stamp was checked on that very connection, and a
//   refused connection is ended before anyone can send a query on it. This
//   is how APM agents instrument pg too; it is done here, in one small file,
//   rather than by changing every adapter, because a guard that each pool
//   must remember to opt into is a guard that a new pool forgets.
//
// The check is one SELECT per new physical connection (not per checkout).

import pg from 'pg';
import type { Fence } from './fence.ts';
import { unfencedClients } from './postgresStamp.ts';
import type { PostgresResource } from './resourceUrl.ts';
import { isRefusal, refusalError } from './verdict.ts';

const INSTALLED = Symbol.for('firebreak.pgConnectionFence');

interface ConnectionTarget {
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
  readonly user?: string;
}

/** The resource a live connection is to, named after the configured resource it matches (passwords never included). */
export function connectionResource(
  client: ConnectionTarget,
  known: readonly PostgresResource[] = [],
): PostgresResource {
  const host = client.host ?? 'localhost';
  const port = client.port ?? 5432;
  const database = client.database ?? '';
  const user = client.user ? `${encodeURIComponent(client.user)}@` : '';
  const url = host.startsWith('/')
    ? `postgres://${user}/${database}?host=${encodeURIComponent(host)}&port=${port}`
    : `postgres://${user}${host.includes(':') ? `[${host}]` : host}:${port}/${database}`;
  const match = known.find((r) => {
    const u = new URL(r.url);
    const rHost = u.hostname.replace(/^\[|\]$/g, '') || u.searchParams.get('host') || 'localhost';
    return (
      rHost === host &&
      Number(u.port || 5432) === port &&
      decodeURIComponent(u.pathname.slice(1)) === database
    );
  });
  return { kind: 'postgres', name: match?.name ?? 'postgres connection', url, display: url };
}

export interface PgConnectionFenceOptions {
  /** The configured databases, so a refused connection is reported by name. */
  readonly known?: readonly PostgresResource[];
  /**
   * A refused connection's connect() never settles instead of rejecting: for
   * a process that is exiting because of the refusal (serviceFence.ts), so
   * that no caller sees an error it might handle with another exit code.
   */
  readonly holdRefused?: boolean;
}

async function checkConnection(
  fence: Fence,
  client: pg.ClientBase,
  options: PgConnectionFenceOptions,
): Promise<void> {
  const resource = connectionResource(client as unknown as ConnectionTarget, options.known);
  let refusal: Error | undefined;
  try {
    const verdict = await fence.checkPgConnection(client, resource);
    if (isRefusal(verdict)) refusal = refusalError(verdict);
  } catch (err) {
    // Not checkable (the connection broke, the stamp is unreadable): not usable either.
    await (client as pg.Client).end().catch(() => {});
    throw err;
  }
  if (!refusal) return;
  // Nothing may run on a refused connection.
  await (client as pg.Client).end().catch(() => {});
  if (options.holdRefused) await new Promise<never>(() => {});
  throw refusal;
}

/**
 * pg-pool's onConnect (pg-pool >= 3.12): `new pg.Pool({ ..., onConnect: fencePoolOnConnect(fence) })`.
 * pg-pool awaits the promise the hook returns; @types/pg still types the hook as returning void.
 */
export function fencePoolOnConnect(
  fence: Fence,
  known: readonly PostgresResource[] = [],
): NonNullable<pg.PoolConfig['onConnect']> {
  const hook: (client: pg.ClientBase) => Promise<void> = (client) =>
    checkConnection(fence, client, { known });
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- pg-pool awaits it; only the types say void
  return hook;
}

type Connect = (
  this: pg.Client,
  callback?: (err: Error | null, client?: pg.Client) => void,
) => Promise<pg.Client> | undefined;

/**
 * Checks every physical Postgres connection this process opens from now on,
 * before connect() resolves. Returns a function that uninstalls it. One fence
 * per process: installing a second is a programming error.
 */
export function installPgConnectionFence(fence: Fence, options: PgConnectionFenceOptions = {}): () => void {
  const proto = pg.Client.prototype as unknown as { connect: Connect; [INSTALLED]?: true };
  if (proto[INSTALLED])
    throw new Error('installPgConnectionFence: a fence is already installed in this process');
  const original = proto.connect;
  const fenced: Connect = function (callback) {
    if (unfencedClients.has(this)) return original.call(this, callback);
    const ready = (original.call(this) as Promise<pg.Client>).then(async (client) => {
      await checkConnection(fence, this, options);
      return client;
    });
    if (!callback) return ready;
    ready.then(
      () => callback(null, this),
      (err: Error) => callback(err),
    );
    return undefined;
  };
  proto.connect = fenced;
  proto[INSTALLED] = true;
  return () => {
    if (proto.connect === fenced) proto.connect = original;
    delete proto[INSTALLED];
  };
}
