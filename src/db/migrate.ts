// Applies a folder of plain numbered .sql migrations (0001_name.sql, with
// "-- Up Migration" / "-- Down Migration" sections) with node-pg-migrate, one
// transaction per migration, under node-pg-migrate's advisory lock so two
// processes starting at once do not race.

import { runner } from 'node-pg-migrate';
import { fileURLToPath } from 'node:url';

export interface MigrateOptions {
  readonly databaseUrl: string;
  /** Folder of .sql files. */
  readonly dir: string | URL;
  /** Name of the table that records applied migrations. */
  readonly migrationsTable: string;
}

export async function migrate(options: MigrateOptions): Promise<string[]> {
  const dir = options.dir instanceof URL ? fileURLToPath(options.dir) : options.dir;
  const applied = await runner({
    databaseUrl: options.databaseUrl,
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
