// How a namespace file and the environment combine. The services keep reading
// environment variables (tests, drills and `docker run -e` all work as
// before); FIREBREAK_CONFIG=<path of the service's namespace file> layers the
// file onto them:
//
// - tunables come only from the file. A tunable's variable that is also set in
//   the environment with another value is refused (FB_CONFIG_INVALID): the
//   value that runs must be the value that was proven in staging and promoted,
//   not a variable someone set on one host. The same value is accepted.
// - bindings come from the file unless the environment sets the variable:
//   the environment wins for where things are (database URLs, paths,
//   brokers) and for secrets, so a test or a drill can point any process at
//   its throwaway databases without editing a promoted file. Secret
//   references are resolved here (env: from the environment, file: read from
//   disk, again on every reload).
//
// Without FIREBREAK_CONFIG nothing changes: the environment alone configures
// the process, exactly as before.

import { resolve } from 'node:path';
import { fbError } from '../errors/index.ts';
import { expectationsFromPath, loadNamespace, type LoadedNamespace } from './namespace.ts';
import { isSecretRef, resolveSecretRef } from './secretRef.ts';
import { SERVICE_SPECS, type ServiceName } from './services/index.ts';

export const CONFIG_FILE_VAR = 'FIREBREAK_CONFIG';

type Env = Readonly<Record<string, string | undefined>>;

export interface LayeredEnv {
  /** The environment with the namespace's values filled in. */
  readonly env: Record<string, string | undefined>;
  /** The namespace read, or null when FIREBREAK_CONFIG is not set. */
  readonly namespace: LoadedNamespace | null;
  /** Binding variables the environment set over the file's value. */
  readonly overridden: readonly string[];
}

/** A leaf as an environment variable's text: tunables are numbers or strings, bindings strings or references. */
function scalarText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function valueAt(doc: unknown, path: readonly string[]): unknown {
  let v = doc;
  for (const key of path)
    v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
  return v;
}

const present = (env: Env, name: string) => env[name] !== undefined && env[name] !== '';

/**
 * The environment a service should validate: `env` itself when FIREBREAK_CONFIG
 * is unset, else `env` with the service's namespace layered on (see the top of
 * this file). Synchronous, so parseEnv can call it. Throws FB_CONFIG_INVALID.
 */
export function layerServiceConfig(service: ServiceName, env: Env): LayeredEnv {
  const configured = env[CONFIG_FILE_VAR];
  if (configured === undefined || configured === '')
    return { env: { ...env }, namespace: null, overridden: [] };
  const file = resolve(configured);
  const namespace = loadNamespace(file, { ...expectationsFromPath(file), service });
  const out: Record<string, string | undefined> = { ...env };
  const overridden: string[] = [];
  const conflicts: string[] = [];
  for (const { env: name, path } of SERVICE_SPECS[service].envVars) {
    const value = valueAt(namespace.document, path);
    if (value === undefined) continue;
    const keyPath = path.join('.');
    if (path[0] === 'tunables') {
      const text = scalarText(value);
      if (present(env, name) && env[name] !== text)
        conflicts.push(`${name}=${env[name]} is set but ${keyPath} is ${text}`);
      else out[name] = text;
      continue;
    }
    if (present(env, name)) {
      // env:NAME naming the very variable that is set is the file's own value, not an override.
      if (!(isSecretRef(value) && value.secretRef === `env:${name}`)) overridden.push(name);
      continue;
    }
    out[name] = isSecretRef(value) ? resolveSecretRef(value, env, keyPath) : scalarText(value);
  }
  if (conflicts.length > 0)
    throw fbError(
      'FB_CONFIG_INVALID',
      `${service}: ${CONFIG_FILE_VAR}=${configured} sets the tunables, so the environment must not: ${conflicts.join('; ')}. Unset the variable, or change the file and promote it`,
      { field: CONFIG_FILE_VAR },
    );
  return { env: out, namespace, overridden };
}
