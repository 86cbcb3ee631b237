// `firebreak env stamp` and `firebreak env check`: the environment fence
// (src/guardrails/fence) from the command line. Stamp a resource once, when
// it is provisioned; check it from a deploy pipeline or by hand, exactly as a
// service checks it at start-up.
//
// Exit codes: 0 every resource is fine; 3 a resource was refused (another
// environment's, or unstamped without --adopt; stamp: already another
// environment's); 1 a resource could not be reached; 2 usage.

import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { fbError, isFirebreakError, type FirebreakError } from '../errors/index.ts';
import {
  EnvName,
  Fence,
  describeResource,
  ensureEnvironmentAclUser,
  isRefusal,
  parseResourceUrl,
  refusalError,
  stampedBy,
  type FenceResource,
  type FenceVerdict,
} from '../guardrails/fence/index.ts';
import { describeStamp } from '../guardrails/fence/verdict.ts';
import { flag } from './args.ts';

export const ENV_HELP = `firebreak env stamp --env NAME [--redis-acl] URL...
firebreak env check --env NAME [--adopt] [--json] URL...
  The environment fence. stamp writes NAME's stamp on each resource, once,
  when it is provisioned (it refuses a resource stamped for another
  environment); check tells whether each belongs to NAME, as a service does
  at start-up. URLs: postgres://, redis://, kafka://host:port[,host:port],
  SQS queue URLs (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME).
  --adopt stamps unstamped resources (local development only). --redis-acl
  also creates the Redis ACL user NAME, confined to NAME:* keys, with the
  password in FIREBREAK_REDIS_ACL_PASSWORD. Exit 0 ok, 3 refused, 1 unreachable.`;

const ACL_PASSWORD_VAR = 'FIREBREAK_REDIS_ACL_PASSWORD';

interface Outcome {
  readonly resource: FenceResource;
  readonly verdict?: FenceVerdict;
  readonly error?: FirebreakError;
  readonly acl?: 'created' | 'exists';
}

function usage(message: string, cause?: unknown): FirebreakError {
  return fbError('FB_USAGE', `firebreak env: ${message}. Run "firebreak help" for the flags.`, { cause });
}

export async function envCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'stamp' && sub !== 'check')
    throw fbError(
      'FB_USAGE',
      `firebreak env: expected "stamp" or "check", got ${JSON.stringify(sub ?? '')}.\n${ENV_HELP}`,
    );
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: true,
      options: {
        env: { type: 'string' },
        adopt: { type: 'boolean' },
        json: { type: 'boolean' },
        'redis-acl': { type: 'boolean' },
      },
    });
  } catch (err) {
    throw usage((err as Error).message, err);
  }
  const v = parsed.values;
  const env = flag(
    'env',
    z.string({ error: 'is required: the environment, e.g. staging' }).pipe(EnvName),
    v.env,
  );
  if (parsed.positionals.length === 0) throw usage(`${sub} needs at least one resource URL`);
  if (sub === 'stamp' && v.adopt) throw usage('--adopt is for check; stamp always writes');
  if (sub === 'check' && v['redis-acl']) throw usage('--redis-acl is for stamp');
  const resources = parsed.positionals.map((url) => parseResourceUrl(url, { errorCode: 'FB_USAGE' }));
  const aclPassword = process.env[ACL_PASSWORD_VAR];
  if (v['redis-acl']) {
    if (!resources.some((r) => r.kind === 'redis')) throw usage('--redis-acl needs a redis:// URL');
    if (!aclPassword || aclPassword.length < 16)
      throw fbError(
        'FB_USAGE',
        `--redis-acl: set ${ACL_PASSWORD_VAR} to the new user's password (16 characters or more); it is never taken on the command line, where ps would show it`,
        { field: '--redis-acl' },
      );
  }

  const fence = new Fence({
    env,
    adopt: v.adopt === true,
    stampedBy: stampedBy(`firebreak env ${sub}`),
  });
  const outcomes: Outcome[] = [];
  for (const resource of resources) {
    try {
      const verdict = sub === 'stamp' ? await fence.stamp(resource) : await fence.check(resource);
      const acl =
        sub === 'stamp' && v['redis-acl'] && resource.kind === 'redis' && !isRefusal(verdict)
          ? await createAclUser(resource, env, aclPassword!)
          : undefined;
      outcomes.push({ resource, verdict, ...(acl ? { acl } : {}) });
    } catch (err) {
      if (!isFirebreakError(err)) throw err;
      outcomes.push({ resource, error: err });
    }
  }

  if (v.json) process.stdout.write(`${JSON.stringify(outcomes.map(toJson), null, 2)}\n`);
  else for (const o of outcomes) report(sub, env, o);
  if (outcomes.some((o) => o.verdict && isRefusal(o.verdict))) return 3;
  return outcomes.some((o) => o.error) ? 1 : 0;
}

async function createAclUser(
  resource: FenceResource,
  env: string,
  password: string,
): Promise<'created' | 'exists'> {
  if (resource.kind !== 'redis') throw new Error('not a Redis resource');
  const client = new Redis(resource.url, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await ensureEnvironmentAclUser(client, env, password);
  } catch (err) {
    throw fbError(
      'FB_ENV_CHECK_FAILED',
      `${describeResource(resource)}: could not create the ACL user "${env}" (ACL needs Redis 6 or later and an admin connection): ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    client.disconnect();
  }
}

function report(sub: 'stamp' | 'check', env: string, o: Outcome): void {
  const what = describeResource(o.resource);
  if (o.error) {
    process.stderr.write(`${o.error.code}: ${o.error.message}\n`);
    return;
  }
  const verdict = o.verdict!;
  if (isRefusal(verdict)) {
    const err = refusalError(verdict);
    const message =
      sub === 'stamp' && verdict.stamp
        ? `refusing to stamp ${what} as "${env}": it belongs to ${describeStamp(verdict.stamp)}. A stamp is written once; if this resource really changed environment, see docs/guardrails.md#environment-fence.`
        : err.message;
    process.stderr.write(`${err.code}: ${message}\n`);
    return;
  }
  const stamp = verdict.stamp ? describeStamp(verdict.stamp) : `"${env}"`;
  const line =
    verdict.outcome === 'adopted'
      ? `${sub === 'stamp' ? 'stamped' : 'adopted'}  ${what}: now ${stamp}`
      : `${sub === 'stamp' ? 'already ' : 'ok      '} ${what}: ${stamp}`;
  process.stdout.write(`${line}\n`);
  if (o.acl)
    process.stdout.write(
      o.acl === 'created'
        ? `ACL user "${env}" created on ${what}: keys and channels ${env}:*, every command but @dangerous (INFO allowed)\n`
        : `ACL user "${env}" already exists on ${what}: left unchanged\n`,
    );
}

function toJson(o: Outcome): Record<string, unknown> {
  return {
    resource: o.resource.display,
    kind: o.resource.kind,
    outcome: o.error ? 'unreachable' : o.verdict!.outcome,
    stamp: o.verdict?.stamp ?? null,
    ...(o.error ? { error: { code: o.error.code, message: o.error.message } } : {}),
    ...(o.verdict && isRefusal(o.verdict)
      ? { error: { code: refusalError(o.verdict).code, message: refusalError(o.verdict).message } }
      : {}),
    ...(o.acl ? { aclUser: o.acl } : {}),
  };
}
