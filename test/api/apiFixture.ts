// Shared pieces of the API tests: a catalog with two creators, their keys and
// plans, an admin key, and request builders.

import { CatalogIndex, parseCatalog, sha256 } from '../../src/catalog/index.ts';

export const CREATOR_A = {
  id: '0b9c7c52-3f7e-4f0e-9a57-1c2d3e4f5a6b',
  apiKey: 'fb_test_creator_a_8d1e6f0c',
} as const;
export const CREATOR_B = {
  id: '7d2f1e0a-5b4c-4d3e-8f9a-0b1c2d3e4f50',
  apiKey: 'fb_test_creator_b_3a9b2c7d',
} as const;
/** A syntactically valid creator id that is in no catalog. */
export const UNKNOWN_CREATOR_ID = '11111111-2222-4333-8444-555555555555';

export const PLAN_A_USD = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
export const PLAN_A_JPY = '4d5e6f70-8a9b-4cad-9ebf-2a3b4c5d6e7f';
export const PLAN_B_EUR = '5e6f7081-9aab-4cbd-afcf-3a4b5c6d7e8f';

export const ADMIN_KEY = 'fb_test_admin_key_0f4e2d1c';

export const catalogDocument = {
  creators: [
    { id: CREATOR_A.id, name: 'Creator A', apiKeySha256: [sha256(CREATOR_A.apiKey)] },
    { id: CREATOR_B.id, name: 'Creator B', apiKeySha256: [sha256(CREATOR_B.apiKey)] },
  ],
  plans: [
    {
      id: PLAN_A_USD,
      creatorId: CREATOR_A.id,
      name: 'A monthly',
      currency: 'USD',
      amountMinor: '999',
      cadence: 'monthly',
    },
    {
      id: PLAN_A_JPY,
      creatorId: CREATOR_A.id,
      name: 'A yearly',
      currency: 'JPY',
      amountMinor: '12000',
      cadence: 'yearly',
    },
    {
      id: PLAN_B_EUR,
      creatorId: CREATOR_B.id,
      name: 'B weekly',
      currency: 'EUR',
      amountMinor: '250',
      cadence: 'weekly',
    },
  ],
  fxRates: {
    EUR: '1.0842',
    GBP: '1.2711',
    CAD: '0.7342',
    AUD: '0.6612',
    CHF: '1.1303',
    BRL: '0.1987',
    JPY: '0.006712',
    KRW: '0.000741',
    KWD: '3.2561',
    BHD: '2.6525',
  },
  fxSnapshotId: 'test-fx-1',
};

export function testCatalog(): CatalogIndex {
  return new CatalogIndex(parseCatalog(catalogDocument, 'test catalog'));
}

export interface CheckoutRequestInit {
  readonly apiKey?: string | undefined;
  readonly idempotencyKey?: string | undefined;
  readonly body?: unknown;
  readonly contentType?: string | undefined;
}

/** An inject() request for POST /v1/checkouts; creator A with a USD amount unless told otherwise. */
export function postCheckout(init: CheckoutRequestInit = {}) {
  const headers: Record<string, string> = {};
  const apiKey = 'apiKey' in init ? init.apiKey : CREATOR_A.apiKey;
  const idempotencyKey = 'idempotencyKey' in init ? init.idempotencyKey : 'idem-1';
  const contentType = 'contentType' in init ? init.contentType : 'application/json';
  if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
  if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
  if (contentType !== undefined) headers['content-type'] = contentType;
  const body = 'body' in init ? init.body : amountBody();
  return {
    method: 'POST' as const,
    url: '/v1/checkouts',
    headers,
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  };
}

export function amountBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    creatorId: CREATOR_A.id,
    customerRef: 'cust-42',
    amountMinor: '1999',
    currency: 'USD',
    ...overrides,
  };
}

export function planBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { creatorId: CREATOR_A.id, customerRef: 'cust-42', planId: PLAN_A_USD, ...overrides };
}

export function getCheckout(id: string, apiKey: string = CREATOR_A.apiKey) {
  return {
    method: 'GET' as const,
    url: `/v1/checkouts/${id}`,
    headers: { authorization: `Bearer ${apiKey}` },
  };
}

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}
