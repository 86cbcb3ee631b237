// migrate(): numbered plain .sql files run in numeric order, each once, and a
// file that sorts before one already applied is refused.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.ts';
import { freshDatabase } from '../helpers/postgres.ts';

const step = (n: number) =>
  `-- Up Migration\nINSERT INTO steps VALUES (${n});\n-- Down Migration\nDELETE FROM steps WHERE n = ${n};\n`;

test('numbered .sql migrations run in numeric order, once, and out-of-order files are refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'firebreak-migrate-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const databaseUrl = await freshDatabase('migrate');
  await writeFile(
    join(dir, '0001_steps.sql'),
    '-- Up Migration\nCREATE TABLE steps (n int, at timestamptz DEFAULT clock_timestamp());\n-- Down Migration\nDROP TABLE steps;\n',
  );
  // 0010 after 0002 (numeric), 2_ and 0002_ would tie on the number: names break the tie.
  await writeFile(join(dir, '0010_ten.sql'), step(10));
  await writeFile(join(dir, '0002_two.sql'), step(2));
  await writeFile(join(dir, '0009_nine.sql'), step(9));

  const options = { databaseUrl, dir, migrationsTable: 'test_migrations' };
  assert.deepEqual(await migrate(options), ['0001_steps', '0002_two', '0009_nine', '0010_ten']);
  assert.deepEqual(await migrate(options), [], 'applied migrations are not run again');

  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  t.after(() => client.end());
  const { rows } = await client.query<{ n: number }>('SELECT n FROM steps ORDER BY at');
  assert.deepEqual(
    rows.map((r) => r.n),
    [2, 9, 10],
  );

  await writeFile(join(dir, '0003_late.sql'), step(3));
  await assert.rejects(migrate(options), /Not run migration 0003_late is preceding already run migration/);

  // A migration runs in one transaction: a failing one leaves nothing behind.
  await rm(join(dir, '0003_late.sql'));
  await writeFile(
    join(dir, '0011_broken.sql'),
    '-- Up Migration\nINSERT INTO steps VALUES (11);\nSELECT 1/0;\n',
  );
  await assert.rejects(migrate(options), /division by zero/);
  const after = await client.query('SELECT 1 FROM steps WHERE n = 11');
  assert.equal(after.rowCount, 0);
});
