// What one capture costs the calling process, by HTTP client: the worker's
// HttpProvider (Node's global fetch, i.e. undici with its WHATWG Request,
// Response and streams) against a plain http.request on a keep-alive
// http.Agent, both against the real sandbox provider as a child process.
// Reports client CPU (this process) and wall time per capture.
// docs/performance.md uses it for the settle path's largest remaining cost.
//
//   node bench/checkout/providerClientCost.ts [--captures 4000] [--concurrency 16] [--rounds 2]

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HttpProvider, startSandboxProcess } from '../../src/psp/index.ts';

const { values } = parseArgs({
  options: {
    captures: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
  },
});
const captures = Number(values.captures);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
for (const [name, value] of Object.entries({ captures, concurrency, rounds })) {
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`--${name} must be a whole number of at least 1\n`);
    process.exit(2);
  }
}

const dataDir = await mkdtemp(join(tmpdir(), 'firebreak-provider-client-'));
const psp = await startSandboxProcess({
  dataDir,
  seed: 'client-cost',
  controlKey: 'client-cost-control-key',
});
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const cleanup = async () => {
  agent.destroy();
  await psp.stop();
  await rm(dataDir, { recursive: true, force: true });
};
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

const url = new URL('/v1/captures', psp.baseUrl);
const creatorId = randomUUID();
const provider = new HttpProvider({ baseUrl: psp.baseUrl });

function captureRequest() {
  return {
    idempotencyKey: `client-cost-${randomUUID()}`,
    checkoutId: randomUUID(),
    creatorId,
    customerRef: 'cus_client_cost',
    amountMinor: 1999n,
    currency: 'USD',
  };
}

/** The same POST as HttpProvider, with http.request on the keep-alive agent; resolves with the body. */
function postWithAgent(): Promise<string> {
  const r = captureRequest();
  const body = JSON.stringify({
    checkoutId: r.checkoutId,
    creatorId: r.creatorId,
    customerRef: r.customerRef,
    amountMinor: r.amountMinor.toString(),
    currency: r.currency,
  });
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'idempotency-key': r.idempotencyKey,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          res.statusCode === 201 || res.statusCode === 200 ? resolve(text) : reject(new Error(text)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function measure(label: string, one: () => Promise<unknown>): Promise<void> {
  let started = 0;
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started++ < captures) await one();
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  const cpuUs = (cpu.user + cpu.system) / captures;
  const wallUs = ((performance.now() - t0) * 1000) / captures;
  process.stdout.write(
    `${label.padEnd(38)} ${cpuUs.toFixed(0).padStart(5)} µs client CPU/capture  ${wallUs.toFixed(0).padStart(6)} µs wall/capture\n`,
  );
}

try {
  process.stdout.write(`${captures} captures, ${concurrency} at a time, against the sandbox provider\n`);
  for (let round = 1; round <= rounds; round++) {
    await measure(`round ${round}: fetch (HttpProvider)`, () => provider.capture(captureRequest()));
    await measure(`round ${round}: http.request, keep-alive Agent`, postWithAgent);
  }
} finally {
  await cleanup();
}
