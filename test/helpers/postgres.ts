// One real Postgres server per test file, started on first use and destroyed
// after the file's tests. Each test that wants isolation creates its own
// database (a few ms).

import { after } from 'node:test';
import { randomUUID } from 'node:crypto';
import { PostgresServer } from '../../src/stack/postgresServer.ts';

const servers = new Map<string, Promise<PostgresServer>>();

// Registered at import time, so it is a file-level hook, not a hook of whichever
// test first asked for a server. It runs before after() hooks registered later in
// the file, so a client kept open until then must listen for 'error'.
after(async () => {
  for (const server of servers.values()) await (await server).destroy();
  servers.clear();
});

/** A server shared by the tests of the calling file; destroyed when the file finishes. */
export function sharedPostgres(name = 'test'): Promise<PostgresServer> {
  let server = servers.get(name);
  if (!server) {
    server = PostgresServer.start({ name });
    servers.set(name, server);
  }
  return server;
}

/** A fresh, empty database on the shared server; returns its URL. */
export async function freshDatabase(name = 'test'): Promise<string> {
  const server = await sharedPostgres(name);
  return server.createDatabase(`t_${randomUUID().replaceAll('-', '').slice(0, 16)}`);
}
