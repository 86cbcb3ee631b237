// A key-level diff of two namespaces of one service (usually staging and
// prod): which tunables differ (what a promotion would carry) and which
// bindings differ (kept per environment by design). `service` and `env` are
// left out: they say which file is which.

import { isSecretRef } from './secretRef.ts';
import type { NamespaceDocument } from './services/index.ts';

export interface ConfigChange {
  readonly path: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly from?: unknown;
  readonly to?: unknown;
  /** True for tunables (carried by promotion), false for bindings (kept per environment). */
  readonly promoted: boolean;
}

function leaves(value: unknown, prefix: string, out: Map<string, unknown>): Map<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !isSecretRef(value)) {
    for (const [key, v] of Object.entries(value)) leaves(v, prefix === '' ? key : `${prefix}.${key}`, out);
  } else if (value !== undefined) {
    out.set(prefix, value);
  }
  return out;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The changes that turn `from` into `to`, tunables first, each in key order. */
export function diffNamespaces(from: NamespaceDocument, to: NamespaceDocument): ConfigChange[] {
  const changes: ConfigChange[] = [];
  for (const section of ['tunables', 'bindings'] as const) {
    const a = leaves(from[section], section, new Map());
    const b = leaves(to[section], section, new Map());
    const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
    for (const path of paths) {
      const promoted = section === 'tunables';
      if (!b.has(path)) changes.push({ path, kind: 'removed', from: a.get(path), promoted });
      else if (!a.has(path)) changes.push({ path, kind: 'added', to: b.get(path), promoted });
      else if (!same(a.get(path), b.get(path)))
        changes.push({ path, kind: 'changed', from: a.get(path), to: b.get(path), promoted });
    }
  }
  return changes;
}

/** A value as it would be written in the YAML file. */
export function showValue(value: unknown): string {
  if (isSecretRef(value)) return `{ secretRef: ${value.secretRef} }`;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** "~ tunables.provider.timeoutMs: 5000 -> 250" */
export function formatChange(c: ConfigChange): string {
  if (c.kind === 'added') return `+ ${c.path}: ${showValue(c.to)}`;
  if (c.kind === 'removed') return `- ${c.path}: ${showValue(c.from)}`;
  return `~ ${c.path}: ${showValue(c.from)} -> ${showValue(c.to)}`;
}
