export * from './checkoutEvents.ts';
