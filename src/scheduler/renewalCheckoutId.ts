// A renewal attempt's checkout id is derived, not generated: the same
// (subscription, period, attempt) always names the same checkout, whichever
// scheduler claims it and however often it is re-sent after a crash. The queue
// dedups on it, the provider charges with it as its idempotency key
// (`checkout-<id>`), and the ledger's checkouts primary key records it once.
// A retry is a new attempt, hence a new id: the provider must see a new
// charge, not a replay of the decline.

import { uuidV5 } from '../api/checkoutId.ts';

/** Firebreak's namespace for renewal checkout ids. Never change it: every stored id depends on it. */
export const RENEWAL_ID_NAMESPACE = '0c7e2a47-3f5d-4b8e-a1c6-9d2f4e8b7a15';

export function renewalCheckoutId(subscriptionId: string, period: number, attempt: number): string {
  if (!Number.isInteger(period) || period < 1) throw new RangeError('period must be a positive integer');
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError('attempt must be a positive integer');
  return uuidV5(RENEWAL_ID_NAMESPACE, `${subscriptionId.toLowerCase()}\n${period}\n${attempt}`);
}
