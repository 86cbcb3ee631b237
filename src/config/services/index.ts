// Every service that has a config namespace, by name.

import { fbError } from '../../errors/index.ts';
import { apiConfigSpec } from './api.ts';
import { relayConfigSpec } from './relay.ts';
import { schedulerConfigSpec } from './scheduler.ts';
import { SERVICES, type ServiceConfigSpec, type ServiceName } from './serviceSpec.ts';
import { workerConfigSpec } from './worker.ts';

export * from './serviceSpec.ts';

export const SERVICE_SPECS: Readonly<Record<ServiceName, ServiceConfigSpec>> = {
  api: apiConfigSpec,
  worker: workerConfigSpec,
  relay: relayConfigSpec,
  scheduler: schedulerConfigSpec,
};

export function isServiceName(name: string): name is ServiceName {
  return (SERVICES as readonly string[]).includes(name);
}

export function serviceSpec(name: string): ServiceConfigSpec {
  if (!isServiceName(name))
    throw fbError('FB_USAGE', `unknown service ${JSON.stringify(name)}; known: ${SERVICES.join(', ')}`, {
      field: '--service',
    });
  return SERVICE_SPECS[name];
}
