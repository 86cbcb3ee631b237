// A fresh queue database per test, cloned from a template migrated once per
// test file (the graphile-worker way): a clone takes milliseconds, migrating
// takes tens of them.

import { randomUUID } from 'node:crypto';
import { PostgresQueue } from '../../src/queue/PostgresQueue.ts';
import { sharedPostgres } from '../helpers/postgres.ts';

const TEMPLATE = 'queue_template';
let template: Promise<void> | undefined;

export async function freshQueueDatabase(): Promise<string> {
  const server = await sharedPostgres('queue');
  template ??= (async () => {
    const queue = await PostgresQueue.open({ databaseUrl: await server.createDatabase(TEMPLATE) });
    await queue.close();
  })();
  await template;
  return server.createDatabase(`q_${randomUUID().replaceAll('-', '').slice(0, 16)}`, TEMPLATE);
}
