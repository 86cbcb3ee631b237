// Turns an untrusted POST /v1/checkouts body into a checkout the worker can
// charge, or into exactly one FirebreakError naming the field at fault. Pure:
// no I/O, so every rejection happens before anything is recorded or queued.
//
// Status codes: a body that does not have the documented shape (wrong type,
// unknown field, malformed UUID, both or neither of plan and amount) is a 400
// FB_INVALID_FIELD; a well-formed body whose values the catalog or the money
// rules refuse (unknown creator, currency or plan; an amount that is zero,
// negative, fractional or too large) is a 422 with its own code.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { CatalogIndex, Creator } from '../catalog/index.ts';
import { fbError, type FirebreakError } from '../errors/index.ts';
import { isCurrencyCode, parseAmountMinor, SUPPORTED_CURRENCIES, type CurrencyCode } from '../money/index.ts';

export const CUSTOMER_REF_MAX_LENGTH = 255;

const FIELDS = ['creatorId', 'customerRef', 'planId', 'amountMinor', 'currency'] as const;

// Control characters and lone surrogates are refused in customerRef: they
// survive JSON but not every store (Postgres text refuses NUL, jsonb refuses
// lone surrogates), and a ref nobody can print is a ref nobody can support.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

const BodySchema = z
  .object({
    creatorId: z.uuid(),
    customerRef: z
      .string()
      .min(1)
      .max(CUSTOMER_REF_MAX_LENGTH)
      .refine((s) => !CONTROL_CHARS.test(s) && s.isWellFormed()),
    planId: z.uuid().optional(),
    amountMinor: z.union([z.string(), z.number()]).optional(),
    currency: z.string().optional(),
  })
  .strict();

const FIELD_HINTS: Record<(typeof FIELDS)[number], string> = {
  creatorId: 'body.creatorId must be your creator id, a UUID such as "0b9c7c52-3f7e-4f0e-9a57-1c2d3e4f5a6b"',
  customerRef: `body.customerRef must be a string of 1 to ${CUSTOMER_REF_MAX_LENGTH} printable characters identifying your customer`,
  planId: 'body.planId must be the UUID of one of your plans',
  amountMinor:
    'body.amountMinor must be the amount in minor units (cents for USD), as a string of digits like "1999" or an integer',
  currency: `body.currency must be an ISO 4217 code string, one of ${SUPPORTED_CURRENCIES.join(', ')}`,
};

/** A validated checkout request. */
export interface CheckoutRequest {
  /** The catalog's spelling of the creator id. */
  readonly creatorId: string;
  readonly customerRef: string;
  readonly planId: string | null;
  /** The amount to charge, resolved from the plan when one was named; digits, no leading zero. */
  readonly amountMinor: string;
  readonly currency: CurrencyCode;
  /** sha256 of what the client sent, normalised; a replay of the same key must match it. */
  readonly requestHash: string;
}

export type ValidationResult = { ok: true; request: CheckoutRequest } | { ok: false; error: FirebreakError };

function invalid(field: string, message: string): ValidationResult {
  return { ok: false, error: fbError('FB_INVALID_FIELD', message, { field }) };
}

function shapeError(error: z.ZodError): ValidationResult {
  const issue = error.issues[0];
  if (issue === undefined) return invalid('body', 'The request body is not a valid checkout request.');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return invalid(
      `body.${key}`,
      `body.${key} is not a checkout field; remove it. Allowed fields: ${FIELDS.join(', ')}.`,
    );
  }
  const name = issue.path[0];
  if (typeof name === 'string' && Object.hasOwn(FIELD_HINTS, name)) {
    const field = name as (typeof FIELDS)[number];
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    return invalid(
      `body.${field}`,
      missing ? `body.${field} is required; ${FIELD_HINTS[field]}.` : `${FIELD_HINTS[field]}.`,
    );
  }
  return invalid('body', 'The request body is not a valid checkout request.');
}

/** The normalised request as the client sent it (plan by id, not resolved), hashed. */
export function requestHashOf(fields: {
  creatorId: string;
  customerRef: string;
  planId: string | null;
  amountMinor: string | null;
  currency: string | null;
}): string {
  const canonical = JSON.stringify([
    'checkout-request/v1',
    fields.creatorId.toLowerCase(),
    fields.customerRef,
    fields.planId?.toLowerCase() ?? null,
    fields.amountMinor,
    fields.currency,
  ]);
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

function lookupCreator(catalog: CatalogIndex, id: string): Creator | undefined {
  return catalog.creator(id) ?? catalog.creator(id.toLowerCase());
}

const AMOUNT_REASONS = {
  not_integer:
    'body.amountMinor must be a whole number of minor units (cents for USD), like "1999"; no fractions',
  not_positive: 'body.amountMinor must be greater than zero',
  too_large: 'body.amountMinor is above the maximum of 1000000000000 minor units for one charge',
} as const;

/**
 * Validates a body for the authenticated creator. Checks run in a fixed order
 * (shape, creator, then plan or amount and currency), so a request with
 * several faults always gets the same answer.
 */
export function validateCheckoutRequest(
  body: unknown,
  caller: Creator,
  catalog: CatalogIndex,
): ValidationResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return invalid(
      'body',
      'The request body must be a JSON object: {"creatorId", "customerRef", and either "planId" or "amountMinor" and "currency"}.',
    );
  }
  const parsed = BodySchema.safeParse(body);
  if (!parsed.success) return shapeError(parsed.error);
  const input = parsed.data;

  const hasPlan = input.planId !== undefined;
  const hasAmount = input.amountMinor !== undefined;
  const hasCurrency = input.currency !== undefined;
  if (hasPlan && (hasAmount || hasCurrency)) {
    return invalid(
      'body.planId',
      'Send either body.planId, or body.amountMinor with body.currency, not both: a plan already has an amount and currency.',
    );
  }
  if (!hasPlan && !hasAmount && !hasCurrency) {
    return invalid(
      'body.planId',
      'body.planId is required, unless you send body.amountMinor and body.currency.',
    );
  }
  if (!hasPlan && !hasCurrency) {
    return invalid(
      'body.currency',
      `body.currency is required with body.amountMinor; ${FIELD_HINTS.currency}.`,
    );
  }
  if (!hasPlan && !hasAmount) {
    return invalid(
      'body.amountMinor',
      `body.amountMinor is required with body.currency; ${FIELD_HINTS.amountMinor}.`,
    );
  }

  const creator = lookupCreator(catalog, input.creatorId);
  if (creator === undefined) {
    return {
      ok: false,
      error: fbError(
        'FB_UNKNOWN_CREATOR',
        `body.creatorId ${input.creatorId} is not a known creator; use the creator id that belongs to your API key.`,
        { field: 'body.creatorId' },
      ),
    };
  }
  if (creator.id !== caller.id) {
    return {
      ok: false,
      error: fbError(
        'FB_FORBIDDEN',
        'Your API key does not belong to the creator in body.creatorId; use that creator’s own API key.',
        { field: 'body.creatorId' },
      ),
    };
  }

  if (input.planId !== undefined) {
    const plan = catalog.plan(input.planId) ?? catalog.plan(input.planId.toLowerCase());
    if (plan === undefined || plan.creatorId !== creator.id || !isCurrencyCode(plan.currency)) {
      return {
        ok: false,
        error: fbError(
          'FB_UNKNOWN_PLAN',
          `body.planId ${input.planId} is not one of your plans; check the plan id.`,
          {
            field: 'body.planId',
          },
        ),
      };
    }
    return {
      ok: true,
      request: {
        creatorId: creator.id,
        customerRef: input.customerRef,
        planId: plan.id,
        amountMinor: plan.amountMinor,
        currency: plan.currency,
        requestHash: requestHashOf({
          ...input,
          creatorId: creator.id,
          planId: plan.id,
          amountMinor: null,
          currency: null,
        }),
      },
    };
  }

  const currency = input.currency!;
  if (!isCurrencyCode(currency)) {
    return {
      ok: false,
      error: fbError(
        'FB_UNKNOWN_CURRENCY',
        `body.currency is not a supported currency; use an uppercase ISO 4217 code, one of ${SUPPORTED_CURRENCIES.join(', ')}.`,
        { field: 'body.currency' },
      ),
    };
  }
  const amount = parseAmountMinor(input.amountMinor);
  if (!amount.ok) {
    return {
      ok: false,
      error: fbError('FB_INVALID_AMOUNT', `${AMOUNT_REASONS[amount.reason]}.`, { field: 'body.amountMinor' }),
    };
  }
  const amountMinor = amount.amountMinor.toString();
  return {
    ok: true,
    request: {
      creatorId: creator.id,
      customerRef: input.customerRef,
      planId: null,
      amountMinor,
      currency,
      requestHash: requestHashOf({ ...input, creatorId: creator.id, planId: null, amountMinor, currency }),
    },
  };
}
