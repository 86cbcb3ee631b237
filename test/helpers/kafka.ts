// The local Kafka peer for tests: librdkafka's mock cluster via kcat, one per
// call, stopped when the test file ends. Kafka tests skip (with this message)
// only when kcat is not on the PATH.

import { after } from 'node:test';
import { KcatMockCluster, kcatAvailable } from '../../src/eventBus/kcatMockCluster.ts';

export const HAVE_KCAT = kcatAvailable();

/** Pass as `{ skip }` to a Kafka test. */
export const skipWithoutKcat: string | false = HAVE_KCAT
  ? false
  : 'kcat is not on the PATH (apt-get install kcat): the Kafka peer is unavailable, Kafka tests skipped';

const clusters = new Set<KcatMockCluster>();

// A file-level hook (registered at import), like test/helpers/postgres.ts.
after(async () => {
  await Promise.allSettled([...clusters].map((c) => c.stop()));
  clusters.clear();
});

export async function startKafka(logFile?: string): Promise<KcatMockCluster> {
  const cluster = await KcatMockCluster.start({ brokers: 3, ...(logFile ? { logFile } : {}) });
  clusters.add(cluster);
  return cluster;
}
