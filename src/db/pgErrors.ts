// Retry or not is decided from SQLSTATE codes and socket error codes, never
// from message text (the graphile-worker way).

/** SQLSTATEs that mean "the same statement may succeed if tried again". */
export const RETRYABLE_SQLSTATES: ReadonlySet<string> = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '57P01', // admin_shutdown (server stopping, failover)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, recovering)
  '53300', // too_many_connections
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08004', // sqlserver_rejected_establishment_of_sqlconnection
  '08006', // connection_failure
]);

const RETRYABLE_SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

const PG_CLIENT_CONNECTION_ERROR =
  /connection terminated|connection error|not queryable|timeout exceeded when trying to connect|terminating connection/i;

/** True when the error says the database was unreachable or transiently unable to serve. */
export function isTransientDbError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof AggregateError && e.errors.some((inner) => isTransientDbError(inner))) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (RETRYABLE_SQLSTATES.has(code) || RETRYABLE_SOCKET_CODES.has(code))) {
      return true;
    }
    // node-postgres reports a lost connection with errors of its own that carry
    // no code at all ("Connection terminated unexpectedly", "Client has
    // encountered a connection error and is not queryable", "timeout exceeded
    // when trying to connect"). Only for those, which have no SQLSTATE and no
    // server severity, is the message the one signal there is.
    if (
      e instanceof Error &&
      code === undefined &&
      !('severity' in e) &&
      PG_CLIENT_CONNECTION_ERROR.test(e.message)
    ) {
      return true;
    }
  }
  return false;
}
