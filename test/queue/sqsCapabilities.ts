// Where SQS FIFO differs from the Queue port by design (docs/queue.md, "SQS
// FIFO in production"): the contract skips or relaxes exactly these checks.

import type { ContractCapabilities } from './queueContract.ts';

export const SQS_CAPABILITIES: ContractCapabilities = {
  shortDedupWindow: false, // fixed at 5 minutes
  globalSequence: false, // SequenceNumber increases per message group
  duplicatesAcrossClients: false, // a deduplicated send answers like the original
  redriveKeepsMessageId: false, // SQS redrives into new messages
  statsLagMs: 120_000, // the Approximate* counters settle within about a minute
};
