// Which SQS errors mean "this receipt no longer controls the message" (the
// port's `false`), decided by the error's name, never by its message text.
//
// The SDK speaks SQS's JSON protocol in query-compatible mode: a modelled error
// arrives as its class (name "MessageNotInflight"), an unmodelled one as a
// plain service exception named by its query code ("InvalidParameterValue").

const STALE_RECEIPT_ERRORS = new Set([
  // Not a receipt of this queue, malformed, or the message is gone.
  'ReceiptHandleIsInvalid',
  // ChangeMessageVisibility on a message whose visibility already ran out.
  'MessageNotInflight',
  // A FIFO queue's answer to DeleteMessage / ChangeMessageVisibility with a
  // receipt whose visibility timeout has run out ("The receipt handle has
  // expired"). Both calls carry only the queue URL (checked by open()), the
  // receipt and a timeout the adapter validated first, so the receipt is the
  // parameter at fault. The one other case is an extension that would keep a
  // message invisible for more than 12 hours in total; the worker extends by
  // one visibility timeout at a time and never holds a charge for 12 hours.
  'InvalidParameterValue',
]);

/** The error's SQS name without the query protocol's "AWS.SimpleQueueService." prefix. */
export function sqsErrorName(err: unknown): string {
  if (!(err instanceof Error)) return '';
  return err.name.replace(/^AWS\.SimpleQueueService\./, '');
}

/** True for errors of DeleteMessage / ChangeMessageVisibility that mean a stale receipt. */
export function isStaleReceiptError(err: unknown): boolean {
  return STALE_RECEIPT_ERRORS.has(sqsErrorName(err));
}

export function isQueueMissingError(err: unknown): boolean {
  const name = sqsErrorName(err);
  return name === 'QueueDoesNotExist' || name === 'NonExistentQueue';
}
