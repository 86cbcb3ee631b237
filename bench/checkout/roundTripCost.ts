// What one SQL round trip costs on this machine, apart from any work the
// statement does: `SELECT 1` with node-postgres against an embedded Postgres
// 18 server, over loopback TCP (how the services connect today) and over the
// server's Unix socket, one client at a time and `--clients` at once. Reports
// round trips per second and CPU per round trip in the client (this process)
// and the server (postmaster and backends). docs/performance.md uses it to
// explain where an accept's time goes.
//
//   node bench/checkout/roundTripCost.ts [--queries 20000] [--clients 8]

import { parseArgs } from 'node:util';
import pg from 'pg';
import { PostgresServer } from '../../src/stack/postgresServer.ts';
import { cpuBetween, sampleCpu, type CpuSubject } from './cpuAccounting.ts';

const { values } = parseArgs({
  options: {
    queries: { type: 'string', default: '20000' },
    clients: { type: 'string', default: '8' },
  },
});
const queries = Number(values.queries);
const concurrent = Number(values.clients);

const server = await PostgresServer.start({ name: 'bench-roundtrip' });
const cleanup = () => server.destroy();
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

async function measure(label: string, config: pg.ClientConfig, clients: number): Promise<void> {
  const pool = Array.from({ length: clients }, () => new pg.Client(config));
  await Promise.all(pool.map((c) => c.connect()));
  // Warm the backends' caches and the JIT of both sides.
  await Promise.all(
    pool.map(async (c) => {
      for (let i = 0; i < 200; i++) await c.query('SELECT 1');
    }),
  );
  const subjects: CpuSubject[] = [{ name: 'server', pid: server.pid, withChildren: true }];
  const before = sampleCpu(subjects);
  const perClient = Math.floor(queries / clients);
  await Promise.all(
    pool.map(async (c) => {
      for (let i = 0; i < perClient; i++) await c.query('SELECT 1');
    }),
  );
  const cpu = cpuBetween(before, sampleCpu(subjects), 1);
  const n = perClient * clients;
  const us = (s: number | undefined) => (((s ?? 0) / n) * 1e6).toFixed(0).padStart(4);
  process.stdout.write(
    `${label.padEnd(28)} ${(n / cpu.wallSec).toFixed(0).padStart(6)}/s  ` +
      `${((cpu.wallSec / perClient) * 1e6).toFixed(0).padStart(5)} µs each  ` +
      `cpu/round trip: client ${us(cpu.seconds.bench)} µs, server ${us(cpu.seconds.server)} µs\n`,
  );
  await Promise.all(pool.map((c) => c.end()));
}

try {
  const url = new URL(server.url());
  const base = {
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: 'postgres',
    port: server.port,
  };
  process.stdout.write(`SELECT 1 round trips, ${queries} per line (node ${process.version})\n`);
  for (const clients of [1, concurrent]) {
    await measure(`tcp 127.0.0.1, ${clients} client(s)`, { ...base, host: '127.0.0.1' }, clients);
    await measure(`unix socket, ${clients} client(s)`, { ...base, host: server.root }, clients);
  }
} finally {
  await cleanup();
}
