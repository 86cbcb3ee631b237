// The content hash of a namespace: what a staging drill proves and what
// promotion carries to prod. It covers the service and its tunables, and not
// env or bindings, which differ between environments by design. It is taken
// over the validated values in a canonical form (keys sorted, no comments, no
// formatting), so reformatting or re-commenting a file keeps its hash and
// any change of value changes it.

import { createHash } from 'node:crypto';
import type { NamespaceDocument } from './services/index.ts';

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** "sha256:<64 hex>" of { service, tunables }. */
export function contentHash(doc: Pick<NamespaceDocument, 'service' | 'tunables'>): string {
  const digest = createHash('sha256')
    .update(canonicalJson({ service: doc.service, tunables: doc.tunables }))
    .digest('hex');
  return `sha256:${digest}`;
}

/** The first 12 hex digits, for people. */
export function shortHash(hash: string): string {
  return hash.replace(/^sha256:/, '').slice(0, 12);
}
