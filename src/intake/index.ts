// The checkout intake: the port and its Postgres adapter (in the queue's database).

export * from './CheckoutIntake.ts';
export { PostgresIntake, type PostgresIntakeOptions } from './PostgresIntake.ts';
