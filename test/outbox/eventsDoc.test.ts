// docs/events.md lists every event type the code defines, with an example
// payload that the relay would publish (it validates).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { EVENT_SCHEMAS, validateEvent } from '../../src/events/index.ts';

const doc = await readFile(new URL('../../docs/events.md', import.meta.url), 'utf8');

/** `### \`type\` vN` sections and the first ```json block in each. */
function documentedExamples(): Map<string, { version: number; example: unknown }> {
  const out = new Map<string, { version: number; example: unknown }>();
  const sections = doc.split(/^### /m).slice(1);
  for (const section of sections) {
    const heading = /^`([a-z_.]+)` v([0-9]+)/.exec(section);
    const json = /```json\n([\s\S]*?)\n```/.exec(section);
    if (!heading?.[1] || !heading[2] || !json?.[1]) continue;
    out.set(heading[1], { version: Number(heading[2]), example: JSON.parse(json[1]) as unknown });
  }
  return out;
}

test('every event type is documented with an example that validates', () => {
  const documented = documentedExamples();
  for (const [type, schema] of Object.entries(EVENT_SCHEMAS)) {
    const entry = documented.get(type);
    assert.ok(
      entry,
      `docs/events.md has no "### \`${type}\` v${schema.version}" section with a json example`,
    );
    assert.equal(entry.version, schema.version, `${type}: documented version`);
    assert.deepEqual(validateEvent(type, entry.version, entry.example), { ok: true }, `${type}: example`);
  }
  for (const type of documented.keys())
    assert.ok(Object.hasOwn(EVENT_SCHEMAS, type), `${type} is not in the code`);
});
