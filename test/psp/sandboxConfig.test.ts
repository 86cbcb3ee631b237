// The sandbox process's environment: defaults, and errors that name the variable.

// node:test's describe/it return promises that the runner itself awaits.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSandboxEnv } from '../../src/psp/sandboxConfig.ts';

it('applies defaults and treats empty variables as unset', () => {
  const result = parseSandboxEnv({ PSP_DATA_DIR: '/data', PSP_SEED: '', PATH: '/bin' });
  assert.ok(result.ok);
  assert.deepEqual(result.env, {
    PSP_PORT: 0,
    PSP_HOST: '127.0.0.1',
    PSP_DATA_DIR: '/data',
    PSP_DECLINE_RATE: 0,
    PSP_ERROR_RATE: 0,
    PSP_ERROR_AFTER_CAPTURE_RATE: 0,
    PSP_LATENCY_MS: 0,
    PSP_OUTAGE: false,
    PSP_LOG_LEVEL: 'info',
  });
});

it('reads rates as JavaScript prints them, and refuses bad values by name', () => {
  const ok = parseSandboxEnv({ PSP_DATA_DIR: '/d', PSP_DECLINE_RATE: String(1e-7), PSP_LATENCY_MS: '250' });
  assert.ok(ok.ok && ok.env.PSP_DECLINE_RATE === 1e-7 && ok.env.PSP_LATENCY_MS === 250);
  for (const [name, value] of [
    ['PSP_DATA_DIR', undefined],
    ['PSP_PORT', '70000'],
    ['PSP_DECLINE_RATE', '1.01'],
    ['PSP_LATENCY_MS', '1.5'],
    ['PSP_CONTROL_KEY', 'short'],
    ['PSP_OUTAGE', 'yes'],
  ] as const) {
    const result = parseSandboxEnv({ PSP_DATA_DIR: '/d', [name]: value });
    assert.ok(!result.ok && result.message.includes(name), `${name}=${value}`);
  }
});
