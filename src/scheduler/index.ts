// Recurring settlements: the renewal scheduler, the ids of renewal attempts,
// and the commands that stop or restart a subscription's future periods. The
// period and retry arithmetic lives in ledger/settlementSchedule.ts and the
// settlement of an attempt in ledger/settleRenewal.ts, inside the ledger's one
// transaction per checkout.
export * from './scheduler.ts';
export * from './renewalCheckoutId.ts';
export * from './subscriptionCommands.ts';
export type { ClaimedRenewal } from './sql/claimDueRenewals.ts';
export type { RenewalStats } from './sql/renewalStats.ts';
export type { SendFn } from './sql/sendClaimedRenewals.ts';
