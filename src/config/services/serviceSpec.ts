// What a service's config namespace is: its schema (two sections, see below)
// and the environment variable each key feeds. The services read environment
// variables (src/config/env.ts parseEnv, src/api/apiConfig.ts); a namespace
// file is layered onto them by src/config/layer.ts, so the same validation
// runs whether a value came from the file or from the environment.
//
// A namespace file has exactly four top-level keys:
//   service   the service it configures (must match the directory)
//   env       staging or prod (must match the file name)
//   bindings  kept per environment, never promoted: where things are (database
//             URLs as secret references, file paths, brokers) and how loud
//   tunables  how the service behaves (pool sizes, timeouts, retries,
//             concurrency): promoted from staging to prod unchanged, and only
//             with a passing staging drill of exactly this content

import { z } from 'zod';
import { environmentName } from '../fields.ts';

export const SERVICES = ['api', 'worker', 'relay', 'scheduler'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface EnvBinding {
  /** The environment variable the service already reads. */
  readonly env: string;
  /** Where the value sits in the namespace, e.g. ['tunables', 'queuePool', 'max']. */
  readonly path: readonly string[];
}

export interface NamespaceDocument {
  readonly service: ServiceName;
  readonly env: z.output<typeof environmentName>;
  readonly bindings: Readonly<Record<string, unknown>>;
  readonly tunables: Readonly<Record<string, unknown>>;
}

export interface ServiceConfigSpec {
  readonly service: ServiceName;
  readonly bindings: z.ZodObject;
  readonly tunables: z.ZodObject;
  /** Every leaf of the schema, and the variable it feeds (test/config/specs.test.ts checks the two agree). */
  readonly envVars: readonly EnvBinding[];
  /** Rules between keys that the field types cannot express; report with a path from the document root. */
  readonly refine?: (doc: NamespaceDocument, ctx: z.RefinementCtx) => void;
}

/** The whole-document schema of one service's namespace. */
export function namespaceSchema(spec: ServiceConfigSpec) {
  return z
    .strictObject({
      service: z.literal(spec.service, {
        error: `must be ${spec.service}: this is read as the ${spec.service} namespace, and a service reads only its own`,
      }),
      env: environmentName,
      bindings: spec.bindings,
      tunables: spec.tunables,
    })
    .superRefine((doc, ctx) => spec.refine?.(doc, ctx));
}
