// One real Postgres server per test file, started on a free port and destroyed
// after the file's tests. Each test that wants isolation creates its own
// database (cheap: a few ms).

import { after } from 'node:test';
import { randomUUID } from 'node:crypto';
import { PostgresServer } from '../../src/stack/postgresServer.ts';

const servers = new Map<string, Promise<PostgresServer>>();

/** A server shared by the tests of the calling file; destroyed when the file finishes. */
export function sharedPostgres(name = 'test'): Promise<PostgresServer> {
  let server = servers.get(name);
  if (!server) {
    server = PostgresServer.start({ name });
    servers.set(name, server);
    after(async () => {
      await (await server!).destroy();
    });
  }
  return server;
}

/** A fresh, empty database on the shared server; returns its URL. */
export async function freshDatabase(name = 'test'): Promise<string> {
  const server = await sharedPostgres(name);
  return server.createDatabase(`t_${randomUUID().replaceAll('-', '').slice(0, 16)}`);
}
