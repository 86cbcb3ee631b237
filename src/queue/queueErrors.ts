// Whether a failed queue call may succeed if made again, whichever adapter
// answered: the Postgres adapter fails with SQLSTATEs and socket errors
// (db/pgErrors.ts), the SQS adapter with SQS's error names (sqs/sqsErrors.ts).
// The callers' outbound policies (worker, scheduler) retry on it.

import { isTransientDbError } from '../db/pgErrors.ts';
import { isTransientSqsError } from './sqs/sqsErrors.ts';

export function isTransientQueueError(err: unknown): boolean {
  return isTransientDbError(err) || isTransientSqsError(err);
}
