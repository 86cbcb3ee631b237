// The payment queue message: what the API promises the worker. Queue messages
// are an input boundary like any other: the worker parses every body with this
// schema and dead-letters (never crashes on) one that does not fit. Version 1
// gained the optional `renewal` field; messages without it mean what they
// always meant.

import { z } from 'zod';
import { SUPPORTED_CURRENCIES, MAX_AMOUNT_MINOR } from '../money/index.ts';

export const CHECKOUT_MESSAGE_VERSION = 1;

const uuid = z.uuid();

export const CheckoutMessageSchema = z
  .object({
    v: z.literal(CHECKOUT_MESSAGE_VERSION),
    checkoutId: uuid,
    creatorId: uuid,
    customerRef: z.string().min(1).max(255),
    planId: uuid.nullable(),
    /** Minor units, as a decimal string: money never travels as a float. */
    amountMinor: z
      .string()
      .regex(/^[1-9][0-9]{0,12}$/)
      .refine((s) => /^[0-9]+$/.test(s) && BigInt(s) <= MAX_AMOUNT_MINOR, 'amount above the maximum'),
    currency: z.enum(SUPPORTED_CURRENCIES as [string, ...string[]]),
    acceptedAt: z.iso.datetime(),
    /**
     * Set by the scheduler on a renewal charge (absent on a first checkout):
     * which subscription, which period and which attempt at it this checkout
     * settles. Its checkout id is derived from these three.
     */
    renewal: z
      .object({
        subscriptionId: uuid,
        period: z.number().int().min(1),
        attempt: z.number().int().min(1),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((m) => m.renewal === undefined || m.planId !== null, {
    message: 'a renewal names its plan',
    path: ['planId'],
  });

export type CheckoutMessage = z.infer<typeof CheckoutMessageSchema>;

export function encodeCheckoutMessage(message: CheckoutMessage): string {
  return JSON.stringify(message);
}

export type DecodeResult = { ok: true; message: CheckoutMessage } | { ok: false; reason: string };

export function decodeCheckoutMessage(body: string): DecodeResult {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return { ok: false, reason: `body is not JSON: ${(err as Error).message}` };
  }
  const parsed = CheckoutMessageSchema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, reason: z.prettifyError(parsed.error).replaceAll('\n', '; ') };
  }
  return { ok: true, message: parsed.data };
}
