// The envelope on its own: values round-trip; every kind of poison is
// recognised as what it is, without throwing; the previous version is read
// and upgraded, anything older or newer refused; and no mutation of a valid
// entry is ever read as a different value (property).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEnvelope, encodeEnvelope, encodeEnvelopeAt } from '../../src/cache/index.ts';
import { A_WIDGET, poisonBlobs, widgetSchema } from './cacheFixture.ts';

test('a value and a negative entry round-trip at the current version', () => {
  assert.deepEqual(decodeEnvelope(widgetSchema, encodeEnvelope(widgetSchema, A_WIDGET)), {
    ok: true,
    value: A_WIDGET,
    version: 3,
  });
  assert.deepEqual(decodeEnvelope(widgetSchema, encodeEnvelope(widgetSchema, null)), {
    ok: true,
    value: null,
    version: 3,
  });
  assert.deepEqual(decodeEnvelope(widgetSchema, null), { ok: false, reason: 'absent' });
});

test('the envelope names its schema, version and checksum in a readable header', () => {
  const text = encodeEnvelope(widgetSchema, A_WIDGET).toString('utf8');
  assert.match(
    text,
    /^FBC1 widget 3 [0-9a-f]{64}\n\{"displayName":"Gold tier","tags":\["monthly","usd"\]\}$/,
  );
});

test('a writer refuses to encode a value its own readers would reject', () => {
  assert.throws(() => encodeEnvelope(widgetSchema, { displayName: 7 } as never));
});

test('every kind of poison is recognised for what it is, and decoding never throws', () => {
  for (const [kind, { bytes, reason }] of Object.entries(poisonBlobs())) {
    assert.deepEqual(decodeEnvelope(widgetSchema, bytes), { ok: false, reason }, kind);
  }
});

test('the previous version is accepted and upgraded; older and newer are refused', () => {
  const v2 = encodeEnvelopeAt('widget', 2, { name: 'Silver', tags: ['weekly'] });
  assert.deepEqual(decodeEnvelope(widgetSchema, v2), {
    ok: true,
    value: { displayName: 'Silver', tags: ['weekly'] },
    version: 2,
  });
  // A v2 payload that v2's schema refuses is still refused.
  assert.deepEqual(decodeEnvelope(widgetSchema, encodeEnvelopeAt('widget', 2, { name: 'x' })), {
    ok: false,
    reason: 'invalid_payload',
  });
  assert.deepEqual(decodeEnvelope(widgetSchema, encodeEnvelopeAt('widget', 1, { title: 'Old' })), {
    ok: false,
    reason: 'unknown_version',
  });
  assert.deepEqual(decodeEnvelope(widgetSchema, encodeEnvelopeAt('widget', 4, A_WIDGET)), {
    ok: false,
    reason: 'unknown_version',
  });
});

test('an upgrade whose result the current schema refuses makes the entry unusable, not an exception', () => {
  // v2 allows any number of tags; v3 at most 10.
  const many = encodeEnvelopeAt('widget', 2, { name: 'Many', tags: Array.from({ length: 11 }, String) });
  assert.deepEqual(decodeEnvelope(widgetSchema, many), { ok: false, reason: 'invalid_payload' });
});

test('property: any widget round-trips; any single-byte change of its entry is never read as another value', () => {
  const widget = fc.record({
    displayName: fc.string({ maxLength: 40 }),
    tags: fc.array(fc.string({ maxLength: 10 }), { maxLength: 10 }),
  });
  fc.assert(
    fc.property(widget, fc.nat(), fc.integer({ min: 1, max: 255 }), (w, at, xor) => {
      const bytes = encodeEnvelope(widgetSchema, w);
      // (fast-check's records have a null prototype; the decoded value is plain JSON.)
      assert.deepEqual(decodeEnvelope(widgetSchema, bytes), { ok: true, value: { ...w }, version: 3 });
      const mutated = Buffer.from(bytes);
      const i = at % mutated.length;
      mutated[i] = mutated[i]! ^ xor;
      const decoded = decodeEnvelope(widgetSchema, mutated);
      assert.equal(decoded.ok, false, `byte ${i} ^ ${xor} was accepted`);
    }),
    { numRuns: 500 },
  );
});

test('property: bytes that do not start with the magic are foreign, whatever they are', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (raw) => {
      const bytes = Buffer.from(raw);
      fc.pre(!bytes.subarray(0, 5).equals(Buffer.from('FBC1 ')));
      assert.deepEqual(decodeEnvelope(widgetSchema, bytes), { ok: false, reason: 'foreign_format' });
    }),
  );
});
