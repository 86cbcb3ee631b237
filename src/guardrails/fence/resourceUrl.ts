// The resources the fence knows, typed by the scheme of their URL:
//
//   postgres://user:pass@host:port/db     (also postgresql://) a Postgres database
//   redis://user:pass@host:port/db        (also rediss://)     a Redis server (its logical db)
//   kafka://host:port[,host:port...]                            a Kafka cluster, by its bootstrap brokers
//   https://sqs.REGION.amazonaws.com/ACCOUNT/NAME               an SQS queue (its queue URL)
//   http(s)://HOST[:PORT]/ACCOUNT/NAME[?region=REGION]           an SQS queue behind another endpoint
//                                                               (LocalStack, ElasticMQ); region from
//                                                               ?region=, else AWS_REGION, else us-east-1
//
// Every URL is shown redacted (`display`): a password, and any query
// parameter that looks like a secret, become "***", so refusals, logs and the
// CLI never print credentials.

import { fbError, type ErrorCode } from '../../errors/index.ts';

export type ResourceKind = 'postgres' | 'redis' | 'kafka' | 'sqs';
export const RESOURCE_KINDS: readonly ResourceKind[] = ['postgres', 'redis', 'kafka', 'sqs'];

interface Common {
  /** What the process calls it ("ledger database", "LEDGER_DATABASE_URL"); empty when unnamed. */
  readonly name: string;
  /** The URL with credentials redacted: safe to print. */
  readonly display: string;
}

export interface PostgresResource extends Common {
  readonly kind: 'postgres';
  readonly url: string;
}
export interface RedisResource extends Common {
  readonly kind: 'redis';
  readonly url: string;
}
export interface KafkaResource extends Common {
  readonly kind: 'kafka';
  readonly brokers: readonly string[];
}
export interface SqsResource extends Common {
  readonly kind: 'sqs';
  /** The queue URL as SQS's API wants it (no query string). */
  readonly queueUrl: string;
  /** The endpoint the SDK is pointed at (the queue URL's origin). */
  readonly endpoint: string;
  readonly region: string;
}

export type FenceResource = PostgresResource | RedisResource | KafkaResource | SqsResource;

const SECRET_PARAM = /pass|secret|token|key|credential|signature/i;
const AWS_SQS_HOST = /^sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;
const SQS_PATH = /^\/[^/]+\/[A-Za-z0-9_-]{1,75}(\.fifo)?$/;
const BROKER = /^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9A-Fa-f:]+\]:[0-9]{1,5}$/;

/** The URL with its password and secret-looking query parameters replaced by "***". */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Not a WHATWG URL (a kafka:// broker list): redact a user:pass@ by hand.
    return raw.replace(/^([a-z+]+:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
  }
  if (url.password) url.password = '***';
  for (const key of [...url.searchParams.keys()]) {
    if (SECRET_PARAM.test(key)) url.searchParams.set(key, '***');
  }
  // URLSearchParams encodes "*" as %2A; keep the redaction readable.
  return url.href.replaceAll('%2A%2A%2A', '***');
}

/** "ledger database postgres://postgres:***@10.0.0.5:5432/ledger", or just the URL when unnamed. */
export function describeResource(resource: FenceResource): string {
  return resource.name ? `${resource.name} ${resource.display}` : resource.display;
}

/**
 * Parses one resource URL. A URL the fence does not understand is an error
 * with `errorCode` (FB_USAGE on the command line, FB_CONFIG_INVALID in a
 * process), naming the redacted URL and what it should look like.
 */
export function parseResourceUrl(
  raw: string,
  {
    name = '',
    errorCode = 'FB_USAGE',
    env = process.env,
  }: { name?: string; errorCode?: ErrorCode; env?: NodeJS.ProcessEnv } = {},
): FenceResource {
  const display = redactUrl(raw);
  const bad = (why: string) =>
    fbError(errorCode, `${name ? `${name}: ` : ''}${display}: ${why}`, { field: name || undefined });
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();

  if (scheme === 'kafka') {
    const rest = raw.slice('kafka://'.length).replace(/\/$/, '');
    if (rest.includes('@')) throw bad('kafka:// URLs carry no credentials (the fence connects without SASL)');
    const brokers = rest.split(',').map((b) => b.trim());
    if (brokers.length === 0 || !brokers.every((b) => BROKER.test(b)))
      throw bad('a Kafka cluster is kafka://host:port[,host:port...]');
    return { kind: 'kafka', name, display, brokers };
  }

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad(
      'not a URL; the fence knows postgres://, redis://, kafka://host:port[,host:port] and SQS queue URLs (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)',
    );
  }
  switch (scheme) {
    case 'postgres':
    case 'postgresql':
      if (!url.hostname && !url.searchParams.get('host')) throw bad('a Postgres URL needs a host');
      if (url.pathname.length <= 1)
        throw bad('a Postgres URL names its database: postgres://host:port/DATABASE');
      return { kind: 'postgres', name, display, url: raw };
    case 'redis':
    case 'rediss':
      if (!url.hostname) throw bad('a Redis URL needs a host');
      if (!/^\/?([0-9]{1,2})?$/.test(url.pathname))
        throw bad('the path of a Redis URL is its db number, e.g. /0');
      return { kind: 'redis', name, display, url: raw };
    case 'http':
    case 'https': {
      if (!SQS_PATH.test(url.pathname))
        throw bad(
          'an http(s) resource is an SQS queue URL: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, or http://HOST:PORT/ACCOUNT/NAME with ?region=',
        );
      const region =
        url.searchParams.get('region') ??
        AWS_SQS_HOST.exec(url.hostname)?.[1] ??
        env.AWS_REGION ??
        env.AWS_DEFAULT_REGION ??
        'us-east-1';
      return {
        kind: 'sqs',
        name,
        display,
        queueUrl: `${url.origin}${url.pathname}`,
        endpoint: url.origin,
        region,
      };
    }
    default:
      throw bad(
        `the fence does not know the scheme ${JSON.stringify(scheme ?? url.protocol)}; it knows postgres://, redis://, kafka:// and SQS queue URLs`,
      );
  }
}

/** True for resources on this machine: the only ones a process with no FIREBREAK_ENV adopts by itself. */
export function isLoopback(resource: FenceResource): boolean {
  const hosts: string[] = [];
  if (resource.kind === 'kafka') hosts.push(...resource.brokers.map((b) => b.replace(/:[0-9]+$/, '')));
  else {
    const url = new URL(resource.kind === 'sqs' ? resource.endpoint : resource.url);
    // A Postgres URL with no host part (or ?host=/socket/dir) is a Unix socket: local.
    hosts.push(url.hostname || url.searchParams.get('host') || 'localhost');
  }
  return hosts.every(
    (h) => /^(localhost|127(\.[0-9]{1,3}){3}|\[::1\]|::1)$/.test(h.toLowerCase()) || h.startsWith('/'),
  );
}
