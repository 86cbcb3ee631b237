// `firebreak status`: every component of a `firebreak up` stack, probed from
// outside (never by asking the supervisor): Postgres by a SQL round trip
// (which also reads the database's environment stamp and whether it is a
// primary or a streaming standby), services by their /livez (the provider's
// /healthz), Redis by PING, the Kafka peer and the ledger's stable address
// by a TCP connect. Restarts and the last exit come from the state file the
// supervisor keeps.

import { connect } from 'node:net';
import pg from 'pg';
import { readPgStamps } from '../guardrails/fence/postgresStamp.ts';
import { fbError } from '../errors/index.ts';
import { isSameProcessAlive, readState, type Component, type StackState } from './stackState.ts';

export type Health = 'healthy' | 'unhealthy' | 'restarting';

export interface ComponentStatus {
  readonly name: string;
  readonly kind: Component['kind'];
  readonly role: string | null;
  readonly pid: number | null;
  readonly port: number | null;
  readonly health: Health;
  /** What the probe saw: "primary", "standby, streaming", "HTTP 200", the error... */
  readonly detail: string;
  /** The environment stamp of a database ('unstamped' when it carries none); null for non-databases. */
  readonly stamp: string | null;
  readonly restarts: number;
  readonly lastExit: Component['lastExit'];
}

export interface StackStatus {
  readonly stateDir: string;
  readonly phase: StackState['phase'];
  readonly environment: string;
  readonly createdAt: string;
  readonly supervisor: { pid: number; alive: boolean; log: string };
  readonly failoverMode: StackState['failoverMode'];
  readonly failovers: StackState['failovers'];
  readonly restoredFrom: string | null;
  readonly urls: Record<string, string>;
  readonly components: readonly ComponentStatus[];
  readonly healthy: boolean;
}

const TIMEOUT_MS = 3_000;

async function probePostgres(c: Component): Promise<{ ok: boolean; detail: string; stamp: string | null }> {
  const client = new pg.Client({
    connectionString: c.probe,
    connectionTimeoutMillis: TIMEOUT_MS,
    query_timeout: TIMEOUT_MS,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    let detail = rows[0]?.r ? 'standby' : 'primary';
    if (rows[0]?.r) {
      const wr = await client.query<{ status: string | null }>('SELECT status FROM pg_stat_wal_receiver');
      detail += wr.rows[0]?.status ? `, ${wr.rows[0].status}` : ', not streaming';
    }
    const stamps = await readPgStamps(client);
    return { ok: true, detail, stamp: stamps[0]?.env ?? 'unstamped' };
  } catch (err) {
    return { ok: false, detail: (err as Error).message, stamp: null };
  } finally {
    await client.end().catch(() => {});
  }
}

async function probeHttp(url: string): Promise<{ ok: boolean; detail: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await res.arrayBuffer();
    return { ok: res.ok, detail: `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

/** Connects to host:port; with `send`, also waits for a reply starting with `expect`. */
function probeTcp(address: string, send?: string, expect?: string): Promise<{ ok: boolean; detail: string }> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) });
    const done = (ok: boolean, detail: string) => {
      socket.destroy();
      resolve({ ok, detail });
    };
    socket.setTimeout(TIMEOUT_MS, () => done(false, 'timed out'));
    socket.once('error', (err) => done(false, err.message));
    socket.once('connect', () => {
      if (!send) return done(true, 'accepts connections');
      socket.write(send);
      socket.once('data', (d: Buffer) =>
        d.toString().startsWith(expect ?? '')
          ? done(true, d.toString().trim())
          : done(false, d.toString().trim()),
      );
    });
  });
}

async function probe(c: Component): Promise<{ ok: boolean; detail: string; stamp: string | null }> {
  switch (c.kind) {
    case 'postgres':
      return probePostgres(c);
    case 'service':
      return { ...(await probeHttp(c.probe)), stamp: null };
    case 'redis':
      return { ...(await probeTcp(c.probe, 'PING\r\n', '+PONG')), stamp: null };
    default:
      return { ...(await probeTcp(c.probe)), stamp: null };
  }
}

export async function stackStatus(stateDir: string): Promise<StackStatus> {
  const state = await readState(stateDir);
  if (!state)
    throw fbError('FB_STACK_NOT_FOUND', `no stack is up in ${stateDir}. Start one with "firebreak up".`);
  const supervisorAlive = isSameProcessAlive(state.supervisor);
  const components = await Promise.all(
    state.components.map(async (c): Promise<ComponentStatus> => {
      const p = await probe(c);
      const alive = c.kind === 'proxy' ? supervisorAlive : isSameProcessAlive(c.proc);
      const health: Health =
        c.state === 'restarting' ? 'restarting' : p.ok && alive ? 'healthy' : 'unhealthy';
      return {
        name: c.name,
        kind: c.kind,
        role: c.role ?? null,
        pid: c.proc?.pid ?? null,
        port: c.kind === 'service' ? (c.port ?? c.adminPort ?? null) : c.port,
        health,
        detail:
          alive || c.state === 'restarting' ? p.detail : `process ${c.proc?.pid ?? '?'} is gone; ${p.detail}`,
        stamp: p.stamp,
        restarts: c.restarts,
        lastExit: c.lastExit,
      };
    }),
  );
  return {
    stateDir,
    phase: state.phase,
    environment: state.environment,
    createdAt: state.createdAt,
    supervisor: { pid: state.supervisor.pid, alive: supervisorAlive, log: state.supervisor.log },
    failoverMode: state.failoverMode,
    failovers: state.failovers,
    restoredFrom: state.restoredFrom,
    urls: state.urls,
    components,
    healthy: supervisorAlive && components.every((c) => c.health === 'healthy'),
  };
}

/** The status as a table for a person. */
export function formatStatus(s: StackStatus): string {
  const lastExit = (c: ComponentStatus) =>
    c.lastExit
      ? `${c.lastExit.signal ?? (c.lastExit.code === null ? 'exited' : `code ${c.lastExit.code}`)} at ${c.lastExit.at.slice(11, 19)}`
      : '-';
  const rows = [
    ['COMPONENT', 'PID', 'PORT', 'HEALTH', 'STAMP', 'RESTARTS', 'LAST EXIT', 'DETAIL'],
    ...s.components.map((c) => [
      c.name,
      String(c.pid ?? '-'),
      String(c.port ?? '-'),
      c.health,
      c.stamp ?? '-',
      String(c.restarts),
      lastExit(c),
      c.detail,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
  const failovers = s.failovers.length
    ? `\nfailovers: ${s.failovers.map((f) => `${String(f.mode)} at ${String(f.recoveredAt)} (${String(f.recoveryMs)} ms)`).join('; ')}`
    : '';
  return `stack ${s.stateDir} · environment ${s.environment} · supervisor pid ${s.supervisor.pid} (${s.supervisor.alive ? 'running' : 'GONE'}) · ledger failover mode ${s.failoverMode}${s.restoredFrom ? ` · restored from ${s.restoredFrom}` : ''}
${table}${failovers}
API ${s.urls.api ?? '-'} · ledger (services' address) ${s.urls.ledger ?? '-'}
${s.healthy ? 'all components healthy' : 'NOT all components healthy'}
`;
}
