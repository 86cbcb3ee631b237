// One real Redis server per test file (Debian's redis-server on a free port),
// started on first use and destroyed after the file's tests. A test that wants
// isolation uses its own key prefix or its own logical database.

import { after } from 'node:test';
import { RedisServer } from '../../src/stack/redisServer.ts';

const servers = new Map<string, Promise<RedisServer>>();

after(async () => {
  for (const server of servers.values()) await (await server).destroy();
  servers.clear();
});

/** A server shared by the tests of the calling file; destroyed when the file finishes. */
export function sharedRedis(name = 'test'): Promise<RedisServer> {
  let server = servers.get(name);
  if (!server) {
    server = RedisServer.start({ name });
    servers.set(name, server);
  }
  return server;
}
