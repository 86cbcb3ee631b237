// The sandbox payment provider as a process: `node src/psp/main.ts`,
// configured by PSP_* environment variables (see sandboxConfig.ts).
// Started by a parent with an IPC channel, it reports { type: 'ready', port }
// once listening, so the parent never has to guess or poll for the port.

import pino from 'pino';
import { parseSandboxEnv } from './sandboxConfig.ts';
import { buildSandboxApp } from './sandboxServer.ts';

export interface SandboxReadyMessage {
  readonly type: 'ready';
  readonly port: number;
}

async function main(): Promise<void> {
  const logger = pino({ base: { service: 'psp-sandbox' } });
  const config = parseSandboxEnv(process.env);
  if (!config.ok) {
    logger.fatal(config.message);
    process.exitCode = 2;
    return;
  }
  const { env } = config;
  logger.level = env.PSP_LOG_LEVEL;

  const app = await buildSandboxApp({
    dataDir: env.PSP_DATA_DIR,
    seed: env.PSP_SEED,
    controlKey: env.PSP_CONTROL_KEY,
    logger,
    faults: {
      declineRate: env.PSP_DECLINE_RATE,
      errorRate: env.PSP_ERROR_RATE,
      errorAfterCaptureRate: env.PSP_ERROR_AFTER_CAPTURE_RATE,
      latencyMs: env.PSP_LATENCY_MS,
      outage: env.PSP_OUTAGE,
    },
  });

  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'sandbox provider stopping');
    app.close().then(
      () => {
        logger.info('sandbox provider stopped');
        if (process.connected) process.disconnect();
        process.exitCode = 0;
      },
      (err: unknown) => {
        logger.error({ err }, 'sandbox provider did not close cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // A parent that started us over IPC and died (a crashed test runner or drill)
  // must not leave a sandbox running forever.
  if (process.send) process.once('disconnect', () => stop('parent disconnected'));

  await app.listen({ port: env.PSP_PORT, host: env.PSP_HOST });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : env.PSP_PORT;
  logger.info({ port, host: env.PSP_HOST }, 'sandbox provider listening');
  if (process.send) {
    const ready: SandboxReadyMessage = { type: 'ready', port };
    process.send(ready);
  }
}

main().catch((err: unknown) => {
  pino().fatal({ err }, 'sandbox provider failed to start');
  process.exit(1);
});
