// Receipt handles: "<message id>.<delivery secret>". The message id lets a
// delete find its row by primary key; the secret is regenerated on every
// delivery, so a handle from an earlier delivery can never match again (a
// receive count would not do: it restarts at 1 after a redrive).

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ParsedReceipt {
  readonly messageId: string;
  readonly receipt: string;
}

export function formatReceiptHandle(messageId: string, receipt: string): string {
  return `${messageId}.${receipt}`;
}

/** Null for anything that is not a handle this adapter issued (treated like a stale one). */
export function parseReceiptHandle(handle: string): ParsedReceipt | null {
  const [messageId, receipt, ...rest] = handle.toLowerCase().split('.');
  if (rest.length > 0 || !messageId || !receipt || !UUID.test(messageId) || !UUID.test(receipt)) return null;
  return { messageId, receipt };
}
