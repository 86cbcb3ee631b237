import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ERROR_CODES } from '../../src/errors/index.ts';

test('docs/errors.md has a row for every error code, with its HTTP status', async () => {
  const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, string>();
  for (const match of doc.matchAll(/^\| `(FB_[A-Z_]+)` \| (\d{3}) \|/gm)) rows.set(match[1]!, match[2]!);
  for (const [code, status] of Object.entries(ERROR_CODES)) {
    assert.equal(rows.get(code), String(status), `docs/errors.md must list ${code} with HTTP ${status}`);
  }
  for (const code of rows.keys())
    assert.ok(code in ERROR_CODES, `docs/errors.md lists ${code}, which does not exist`);
});
