// What happens when the ledger's primary dies, in the two modes that run on
// the embedded Postgres binaries (the third, Patroni, is a seam: see
// haManager.ts for what blocks it here):
//
// - 'standby': the old primary is SIGKILLed if it is still running (a
//   promoted standby next to a live primary is split brain), the synchronous
//   standby is promoted (pg_promote), and the stable address the services
//   use (the ledger's FaultProxy) is pointed at it, every connection through
//   it reset. The services' pools reconnect with backoff to the same address
//   and find the new primary: no service restarts, and the environment fence
//   re-checks the stamp on each new connection (the stamp replicated with
//   everything else).
// - 'restart': crash recovery of the same server, on the same port and data
//   directory: what a pod restart of a single Postgres gives.

import type { PostgresServer } from './postgresServer.ts';
import { promoteStandby } from './streamingStandby.ts';

export type FailoverMode = 'restart' | 'standby' | 'patroni';

export interface LedgerFailoverResult {
  readonly mode: FailoverMode;
  /** The postmaster that died (or was fenced off). */
  readonly oldPrimaryPid: number | null;
  readonly primaryPid: number | null;
  readonly primaryPort: number;
  /** The new primary's timeline (standby mode; restart mode keeps the timeline). */
  readonly timeline: number | null;
  readonly startedAt: string;
  readonly recoveredAt: string;
  /** From the call to the new primary taking writes. */
  readonly recoveryMs: number;
}

/** Where the services reach the ledger: anything that can be re-pointed and can drop its connections. */
export interface StableAddress {
  setUpstream(host: string, port: number): void;
  resetAll(): number;
}

export interface LedgerFailover {
  readonly result: LedgerFailoverResult;
  readonly primary: PostgresServer;
  /** The dead primary, for the caller to destroy (standby mode). */
  readonly retired: PostgresServer | undefined;
}

export async function failOverLedger(o: {
  readonly primary: PostgresServer;
  readonly standby: PostgresServer | undefined;
  readonly address: StableAddress | undefined;
}): Promise<LedgerFailover> {
  const started = Date.now();
  const oldPrimaryPid = o.primary.pid ?? null;
  const done = (mode: FailoverMode, primary: PostgresServer, timeline: number | null) => {
    const recovered = Date.now();
    return {
      mode,
      oldPrimaryPid,
      primaryPid: primary.pid ?? null,
      primaryPort: primary.port,
      timeline,
      startedAt: new Date(started).toISOString(),
      recoveredAt: new Date(recovered).toISOString(),
      recoveryMs: recovered - started,
    };
  };
  if (o.standby?.isRunning) {
    await o.primary.kill();
    const { timeline } = await promoteStandby(o.standby);
    o.address?.setUpstream('127.0.0.1', o.standby.port);
    o.address?.resetAll();
    return { result: done('standby', o.standby, timeline), primary: o.standby, retired: o.primary };
  }
  await o.primary.resume();
  return { result: done('restart', o.primary, null), primary: o.primary, retired: undefined };
}
