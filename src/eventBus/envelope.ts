// The wire format of an event (docs/events.md): the Kafka key is the creator
// id, the value a JSON envelope, and the headers repeat what a consumer needs
// to route and dedup without parsing the value.

import { z } from 'zod';
import type { EventRecord, PublishedEvent } from './EventBus.ts';

export const HEADER_EVENT_ID = 'event-id';
export const HEADER_EVENT_TYPE = 'event-type';
export const HEADER_SCHEMA_VERSION = 'schema-version';
export const HEADER_CONTENT_TYPE = 'content-type';

export interface EventEnvelope {
  readonly eventId: string;
  /** The schema name, e.g. charge.captured (src/events/checkoutEvents.ts). */
  readonly type: string;
  readonly schemaVersion: number;
  readonly creatorId: string;
  /** When the ledger transaction that wrote the event started (outbox.created_at). */
  readonly occurredAt: string;
  readonly data: unknown;
}

const envelopeSchema = z.object({
  eventId: z.string().min(1),
  type: z.string().min(1),
  schemaVersion: z.number().int(),
  creatorId: z.string().min(1),
  occurredAt: z.string(),
  data: z.unknown(),
});

export function toEventRecord(topic: string, e: EventEnvelope): EventRecord {
  return {
    topic,
    key: e.creatorId,
    eventId: e.eventId,
    value: JSON.stringify(e),
    headers: {
      [HEADER_EVENT_ID]: e.eventId,
      [HEADER_EVENT_TYPE]: e.type,
      [HEADER_SCHEMA_VERSION]: String(e.schemaVersion),
      [HEADER_CONTENT_TYPE]: 'application/json',
    },
  };
}

export type ParsedEvent = { ok: true; envelope: EventEnvelope } | { ok: false; reason: string };

/** Parses a record read back from the bus; the event-id header must agree with the envelope. */
export function parseEventEnvelope(p: PublishedEvent): ParsedEvent {
  let json: unknown;
  try {
    json = JSON.parse(p.value);
  } catch (err) {
    return { ok: false, reason: `value is not JSON: ${(err as Error).message}` };
  }
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: z.prettifyError(parsed.error) };
  const header = p.headers[HEADER_EVENT_ID];
  if (header !== parsed.data.eventId) {
    return { ok: false, reason: `header ${HEADER_EVENT_ID}=${header} differs from the envelope's eventId` };
  }
  return { ok: true, envelope: parsed.data };
}
