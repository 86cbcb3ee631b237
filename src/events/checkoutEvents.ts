// The events Firebreak publishes, versioned: every event carries its schema
// name and version, and every payload is validated when it is written to the
// outbox and again on the way out (the relay). docs/events.md lists them.

import { z } from 'zod';

const uuid = z.uuid();
const minor = z.string().regex(/^[0-9]{1,19}$/, 'must be a decimal string of minor units');
const currency = z.string().regex(/^[A-Z]{3}$/);
const period = z.number().int().min(1);
const instant = z.iso.datetime();

export const EVENT_SCHEMAS = {
  'charge.captured': {
    version: 1,
    data: z
      .object({
        checkoutId: uuid,
        creatorId: uuid,
        amountMinor: minor,
        currency,
        usdMinor: minor,
        fxSnapshotId: z.string().min(1),
        captureId: z.string().min(1),
      })
      .strict(),
  },
  'checkout.declined': {
    version: 1,
    data: z.object({ checkoutId: uuid, creatorId: uuid, declineCode: z.string().min(1) }).strict(),
  },
  // Recurring settlements (src/scheduler, docs/renewals.md). A renewal charge
  // also emits charge.captured or checkout.declined like any checkout; these
  // say what it meant for the subscription.
  /** A period was paid; the schedule moved to the next one. */
  'subscription.renewed': {
    version: 1,
    data: z
      .object({
        subscriptionId: uuid,
        creatorId: uuid,
        checkoutId: uuid,
        period,
        periodStart: instant,
        nextPeriodStart: instant,
      })
      .strict(),
  },
  /** A renewal attempt was declined; the same period is tried again at nextAttemptAt. */
  'subscription.renewal_declined': {
    version: 1,
    data: z
      .object({
        subscriptionId: uuid,
        creatorId: uuid,
        checkoutId: uuid,
        period,
        attempt: z.number().int().min(1),
        declineCode: z.string().min(1),
        nextAttemptAt: instant,
      })
      .strict(),
  },
  /** The retry schedule of a period is exhausted: the subscription is past due (still retried, less often). */
  'subscription.past_due': {
    version: 1,
    data: z
      .object({ subscriptionId: uuid, creatorId: uuid, period, attempts: z.number().int().min(1) })
      .strict(),
  },
  /** A past-due subscription's outstanding period was paid: it is active again. */
  'subscription.restored': {
    version: 1,
    data: z.object({ subscriptionId: uuid, creatorId: uuid, checkoutId: uuid, period }).strict(),
  },
  /** No further periods; an attempt already in flight (inFlightCheckoutId) still settles. */
  'subscription.canceled': {
    version: 1,
    data: z.object({ subscriptionId: uuid, creatorId: uuid, inFlightCheckoutId: uuid.nullable() }).strict(),
  },
  /** No further periods until resumed; an attempt already in flight still settles. */
  'subscription.paused': {
    version: 1,
    data: z.object({ subscriptionId: uuid, creatorId: uuid, inFlightCheckoutId: uuid.nullable() }).strict(),
  },
  /** Billing continues with nextPeriod; periods that started while paused (waivedPeriods) are not billed. */
  'subscription.resumed': {
    version: 1,
    data: z
      .object({
        subscriptionId: uuid,
        creatorId: uuid,
        status: z.enum(['active', 'past_due']),
        nextPeriod: period,
        nextChargeAt: instant,
        waivedPeriods: z.number().int().min(0),
      })
      .strict(),
  },
} as const;

export type EventType = keyof typeof EVENT_SCHEMAS;
export type EventData<T extends EventType> = z.infer<(typeof EVENT_SCHEMAS)[T]['data']>;

export interface OutboxEvent<T extends EventType = EventType> {
  readonly type: T;
  readonly schemaVersion: number;
  readonly data: EventData<T>;
}

/** Builds an event, validating its payload: a malformed event never reaches the outbox. */
export function buildEvent<T extends EventType>(type: T, data: EventData<T>): OutboxEvent<T> {
  const schema = EVENT_SCHEMAS[type];
  const parsed = schema.data.safeParse(data);
  if (!parsed.success)
    throw new TypeError(`event ${type} v${schema.version} is invalid: ${z.prettifyError(parsed.error)}`);
  return { type, schemaVersion: schema.version, data: parsed.data as EventData<T> };
}

export type ValidateResult = { ok: true } | { ok: false; reason: string };

/** Validates a stored event (type, version, payload) before it is published. */
export function validateEvent(type: string, schemaVersion: number, data: unknown): ValidateResult {
  if (!Object.hasOwn(EVENT_SCHEMAS, type)) return { ok: false, reason: `unknown event type ${type}` };
  const schema = EVENT_SCHEMAS[type as EventType];
  if (schemaVersion !== schema.version) {
    return { ok: false, reason: `${type} has schema version ${schemaVersion}, expected ${schema.version}` };
  }
  const parsed = schema.data.safeParse(data);
  return parsed.success ? { ok: true } : { ok: false, reason: z.prettifyError(parsed.error) };
}
