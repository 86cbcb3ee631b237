export * from './Ledger.ts';
export * from './commitOutcome.ts';
export * from './settlementSchedule.ts';
