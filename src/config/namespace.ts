// Reading one config namespace file (config/<service>/<env>.yaml): YAML with
// the `yaml` package (keeping source positions), then the service's zod
// schema. Every problem is reported with the file, line and column, the key
// path, and what is expected, e.g.
//   config/api/prod.yaml:9:10: tunables.queuePool.max: must be at most 100 connections (got 500)

import { readFileSync } from 'node:fs';
import { basename, dirname, relative } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { fbError } from '../errors/index.ts';
import { contentHash } from './contentHash.ts';
import type { EnvironmentName } from './fields.ts';
import { looksLikeSecret } from './secretRef.ts';
import {
  isServiceName,
  namespaceSchema,
  SERVICE_SPECS,
  SERVICES,
  type NamespaceDocument,
  type ServiceName,
} from './services/index.ts';

export interface ConfigProblem {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** The key path, e.g. "tunables.queuePool.max"; "" for the document as a whole. */
  readonly path: string;
  readonly message: string;
  /** yaml: the text does not parse; schema: a key is missing, unknown or wrong; secret: a literal secret. */
  readonly kind: 'yaml' | 'schema' | 'secret';
}

export interface LoadedNamespace {
  readonly file: string;
  readonly service: ServiceName;
  readonly env: EnvironmentName;
  readonly document: NamespaceDocument;
  /** Content hash of what promotion carries (service + tunables); see contentHash.ts. */
  readonly hash: string;
  readonly text: string;
}

export type NamespaceResult =
  | { readonly ok: true; readonly namespace: LoadedNamespace }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

export interface NamespaceExpectations {
  /** The service reading the file: a namespace of another service is refused. */
  readonly service?: ServiceName;
  /** The environment the file name says (config/<service>/<env>.yaml). */
  readonly env?: EnvironmentName;
}

/** A path for messages: relative to the working directory when that is shorter. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') ? rel : file;
}

/** What config/<service>/<env>.yaml's location says it is, if it follows the layout. */
export function expectationsFromPath(file: string): NamespaceExpectations {
  const env = basename(file).replace(/\.ya?ml$/, '');
  const service = basename(dirname(file));
  return {
    ...(isServiceName(service) ? { service } : {}),
    ...(env === 'staging' || env === 'prod' ? { env } : {}),
  };
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

interface Located {
  readonly node: Node | null;
  /** Offset of the deepest existing key or value on the path. */
  readonly offset: number | undefined;
}

/** Walks the YAML tree along a key path; returns the value node and where to point. */
function locate(doc: Document, path: readonly PropertyKey[], preferKey: boolean): Located {
  let node: unknown = doc.contents;
  let offset: number | undefined = doc.contents?.range?.[0];
  for (const [i, segment] of path.entries()) {
    if (!isMap(node)) return { node: null, offset };
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
    if (!pair) return { node: null, offset };
    const keyOffset = (pair.key as Node).range?.[0];
    const valueOffset = (pair.value as Node | null)?.range?.[0];
    offset = preferKey && i === path.length - 1 ? keyOffset : (valueOffset ?? keyOffset);
    node = pair.value;
  }
  return { node: (node as Node | null) ?? null, offset };
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const segment of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[segment];
  }
  return v;
}

/** The keys a schema expects at a path, for "unknown key" messages. */
function expectedKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let s: unknown = schema;
  for (const segment of [...path, null]) {
    // Unwrap pipes (superRefine) and optionals to the object underneath.
    for (let guard = 0; guard < 5; guard++) {
      const def = (s as { def?: { type?: string; in?: unknown; innerType?: unknown } }).def;
      if (def?.type === 'pipe') s = def.in;
      else if (def?.type === 'optional') s = def.innerType;
      else break;
    }
    const shape = (s as { shape?: Record<string, unknown> }).shape;
    if (!shape) return [];
    if (segment === null) return Object.keys(shape);
    s = shape[String(segment)];
  }
  return [];
}

function describeGot(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    if (looksLikeSecret(value)) return 'a secret-looking string (not shown)';
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  }
  return JSON.stringify(value);
}

/**
 * Parses and validates a namespace's text. Never throws for bad input: the
 * problems come back, each with a position when the file has one.
 */
export function parseNamespace(
  text: string,
  file: string,
  expect: NamespaceExpectations = {},
): NamespaceResult {
  const shown = displayPath(file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true, strict: true });
  const at = (offset: number | undefined) => {
    if (offset === undefined) return {};
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const yamlProblems = [...doc.errors, ...doc.warnings].map((e): ConfigProblem => ({
    file: shown,
    ...(e.linePos ? { line: e.linePos[0].line, column: e.linePos[0].col } : {}),
    path: '',
    message: `YAML: ${firstLine(e.message)}`,
    kind: 'yaml',
  }));
  if (yamlProblems.length > 0) return { ok: false, problems: yamlProblems };

  const value: unknown = doc.toJS({ maxAliasCount: 50 });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {
      ok: false,
      problems: [
        {
          file: shown,
          ...at(doc.contents?.range?.[0]),
          path: '',
          message: `${value === null || value === undefined ? 'the file is empty' : `the document is ${describeGot(value)}`}: expected a mapping with service, env, bindings and tunables`,
          kind: 'schema',
        },
      ],
    };
  }

  const declared = (value as { service?: unknown }).service;
  const serviceName = expect.service ?? (typeof declared === 'string' ? declared : '');
  if (!isServiceName(serviceName)) {
    return {
      ok: false,
      problems: [
        {
          file: shown,
          ...at(locate(doc, ['service'], false).offset),
          path: 'service',
          message: `must be one of ${SERVICES.join(', ')}${declared === undefined ? ' (the key is missing)' : ` (got ${describeGot(declared)})`}`,
          kind: 'schema',
        },
      ],
    };
  }
  const schema = namespaceSchema(SERVICE_SPECS[serviceName]);
  const problems: ConfigProblem[] = [];
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        const expected = expectedKeys(schema, issue.path);
        for (const key of issue.keys) {
          const path = [...issue.path, key];
          problems.push({
            file: shown,
            ...at(locate(doc, path, true).offset),
            path: path.map(String).join('.'),
            message: `unknown key${expected.length > 0 ? ` (expected one of: ${expected.join(', ')})` : ''}`,
            kind: 'schema',
          });
        }
        continue;
      }
      const got = valueAt(value, issue.path);
      const isSecret = /is a secret|secret value|looks like/.test(issue.message);
      let message = issue.message;
      if (got === undefined) message = `is required: ${message.replace(/^Invalid input: /, '')}`;
      else if (issue.code !== 'custom') message = `${message} (got ${describeGot(got)})`;
      problems.push({
        file: shown,
        ...at(locate(doc, issue.path, false).offset),
        path: issue.path.map(String).join('.'),
        message,
        kind: isSecret ? 'secret' : 'schema',
      });
    }
  }
  // A credential pasted anywhere (an unknown key, a comment-turned-value) is
  // reported even where the schema already refused the key for another reason.
  visit(doc, {
    Scalar(_key, node, ancestors) {
      if (typeof node.value !== 'string' || !looksLikeSecret(node.value)) return;
      const path = ancestors.flatMap((a) => ('key' in a && isScalar(a.key) ? [String(a.key.value)] : []));
      const dotted = path.join('.');
      if (problems.some((p) => p.kind === 'secret' && (dotted === p.path || dotted.startsWith(`${p.path}.`))))
        return;
      problems.push({
        file: shown,
        ...at(node.range?.[0]),
        path: dotted,
        message: `looks like ${looksLikeSecret(node.value)}: a namespace holds secrets only as references ({ secretRef: env:NAME } or { secretRef: file:/abs/path }); treat this one as leaked and rotate it`,
        kind: 'secret',
      });
    },
  });
  if (problems.length > 0 || !parsed.success)
    return {
      ok: false,
      problems: problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)),
    };

  const document = parsed.data as NamespaceDocument;
  if (expect.env !== undefined && document.env !== expect.env)
    problems.push({
      file: shown,
      ...at(locate(doc, ['env'], false).offset),
      path: 'env',
      message: `must be ${expect.env}: the file name says ${expect.env} (got ${describeGot(document.env)})`,
      kind: 'schema',
    });
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    namespace: {
      file,
      service: document.service,
      env: document.env,
      document,
      hash: contentHash(document),
      text,
    },
  };
}

/** Reads and validates a namespace file; a missing or unreadable file is a problem too. */
export function readNamespace(file: string, expect: NamespaceExpectations = {}): NamespaceResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      ok: false,
      problems: [
        {
          file: displayPath(file),
          path: '',
          message:
            code === 'ENOENT'
              ? 'the file does not exist'
              : `the file cannot be read (${(err as Error).message})`,
          kind: 'yaml',
        },
      ],
    };
  }
  return parseNamespace(text, file, expect);
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}:${p.column ?? 1}`;
  return `${where}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

/** Reads and validates, or throws FB_CONFIG_INVALID listing every problem (one line, "; "-separated). */
export function loadNamespace(file: string, expect: NamespaceExpectations = {}): LoadedNamespace {
  const result = readNamespace(file, expect);
  if (result.ok) return result.namespace;
  throw fbError(
    'FB_CONFIG_INVALID',
    `invalid config namespace: ${result.problems.map(formatProblem).join('; ')}`,
    { field: result.problems[0]?.path },
  );
}
