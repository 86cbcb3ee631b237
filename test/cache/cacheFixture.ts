// Shared pieces of the cache tests: a three-version test schema, one blob of
// every kind of poison the incident (and its cousins) can leave under a key,
// and reading counters off a registry.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Registry } from 'prom-client';
import {
  defineCacheSchema,
  encodeEnvelope,
  encodeEnvelopeAt,
  msgpack,
  type CacheSchema,
  type PoisonReason,
} from '../../src/cache/index.ts';

export const WidgetV1 = z.object({ title: z.string() }).strict();
export const WidgetV2 = z.object({ name: z.string(), tags: z.array(z.string()) }).strict();
export const WidgetV3 = z.object({ displayName: z.string(), tags: z.array(z.string()).max(10) }).strict();
export type Widget = z.infer<typeof WidgetV3>;

/** Current version 3; readers also accept 2 (upgraded); 1 is too old. */
export const widgetSchema: CacheSchema<Widget> = defineCacheSchema({
  name: 'widget',
  version: 3,
  payload: WidgetV3,
  previous: {
    payload: WidgetV2,
    upgrade: (old: z.infer<typeof WidgetV2>) => ({ displayName: old.name, tags: old.tags }),
  },
});

export const A_WIDGET: Widget = { displayName: 'Gold tier', tags: ['monthly', 'usd'] };

/** One blob per poison kind, as it would sit in Redis under a widget key. */
export function poisonBlobs(): Record<string, { bytes: Buffer; reason: PoisonReason }> {
  const good = encodeEnvelope(widgetSchema, A_WIDGET);
  const flipped = Buffer.from(good);
  const at = flipped.length - 3;
  flipped[at] = flipped[at]! ^ 0x20; // a bit flip inside the payload
  return {
    // The incident: another serializer wrote under our key.
    msgpack: { bytes: msgpackWidget(), reason: 'foreign_format' },
    java: {
      bytes: Buffer.from('aced00057372001b636f6d2e6578616d706c652e576964676574', 'hex'),
      reason: 'foreign_format',
    },
    plainString: { bytes: Buffer.from('Gold tier', 'utf8'), reason: 'foreign_format' },
    bareJson: { bytes: Buffer.from(JSON.stringify(A_WIDGET)), reason: 'foreign_format' },
    emptyValue: { bytes: Buffer.alloc(0), reason: 'foreign_format' },
    // Ours, damaged.
    truncatedHeader: { bytes: good.subarray(0, 30), reason: 'corrupt_envelope' },
    garbledHeader: {
      bytes: Buffer.concat([Buffer.from('FBC1 widget three xyz\n'), Buffer.from('{}')]),
      reason: 'corrupt_envelope',
    },
    bitFlip: { bytes: flipped, reason: 'checksum_mismatch' },
    truncatedPayload: { bytes: good.subarray(0, good.length - 5), reason: 'checksum_mismatch' },
    // Ours, but not for this reader.
    otherSchema: { bytes: encodeEnvelopeAt('gadget', 3, A_WIDGET), reason: 'wrong_schema' },
    tooOld: { bytes: encodeEnvelopeAt('widget', 1, { title: 'Gold tier' }), reason: 'unknown_version' },
    fromTheFuture: { bytes: encodeEnvelopeAt('widget', 4, A_WIDGET), reason: 'unknown_version' },
    // A consistent envelope around a payload the schema refuses.
    failsSchema: { bytes: encodeEnvelopeAt('widget', 3, { displayName: 42 }), reason: 'invalid_payload' },
    notUtf8: {
      bytes: envelopeAroundRawPayload(Buffer.from([0x22, 0xff, 0xfe, 0x22])),
      reason: 'invalid_payload',
    },
  };
}

/** {"name":"Gold tier"} in MessagePack: the wrong serializer of the incident. */
export function msgpackWidget(): Buffer {
  return msgpack({ name: 'Gold tier' });
}

/** A valid header (right checksum, computed as envelope.ts does) over arbitrary payload bytes. */
function envelopeAroundRawPayload(payload: Buffer): Buffer {
  const sum = createHash('sha256').update('widget 3\n').update(payload).digest('hex');
  return Buffer.concat([Buffer.from(`FBC1 widget 3 ${sum}\n`, 'latin1'), payload]);
}

/** The value of a counter or gauge on `registry` for exactly these labels (0 if never set). */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  let sum = 0;
  for (const v of values) {
    if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
  }
  return sum;
}
