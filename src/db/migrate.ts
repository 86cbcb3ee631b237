// Applies a folder of plain numbered .sql migrations (0001_name.sql, with
// "-- Up Migration" / "-- Down Migration" sections) with node-pg-migrate, one
// transaction per migration, under node-pg-migrate's advisory lock so two
// processes starting at once do not race.
//
// Ordering: node-pg-migrate sorts files by their numeric prefix as a number
// (Number('0010') = 10), then by name, so 0002_x runs before 0010_y; and
// checkOrder refuses to start when a new file sorts before one already applied.

import { runner } from 'node-pg-migrate';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

export interface MigrateOptions {
  /** Where to migrate: a URL (a connection of its own), or a connected client (left open). */
  readonly databaseUrl?: string;
  readonly dbClient?: pg.ClientBase;
  /** Folder of .sql files. */
  readonly dir: string | URL;
  /** Name of the table that records applied migrations. */
  readonly migrationsTable: string;
}

export async function migrate(options: MigrateOptions): Promise<string[]> {
  if ((options.databaseUrl === undefined) === (options.dbClient === undefined)) {
    throw new Error('migrate: give exactly one of databaseUrl and dbClient');
  }
  const dir = options.dir instanceof URL ? fileURLToPath(options.dir) : options.dir;
  const applied = await runner({
    ...(options.dbClient ? { dbClient: options.dbClient } : { databaseUrl: options.databaseUrl }),
    dir,
    migrationsTable: options.migrationsTable,
    direction: 'up',
    singleTransaction: false,
    checkOrder: true,
    advisoryLockMode: 'wait',
    log: () => {},
  } as Parameters<typeof runner>[0]);
  return applied.map((m) => m.name);
}
