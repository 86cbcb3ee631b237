// The sandbox payment provider as a Fastify app: captures with idempotency
// keys, a control plane for injecting faults at run time, its record of
// captures for the auditor, and metrics. main.ts runs it as a process; tests
// build it here and use app.inject().

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import { z } from 'zod';
import { MAX_AMOUNT_MINOR, SUPPORTED_CURRENCIES, type CurrencyCode } from '../money/index.ts';
import { CaptureLog } from './captureLog.ts';
import type { CaptureRecord } from './captureRecord.ts';
import { CaptureService, type CaptureInput } from './captureService.ts';
import { FaultsPatchSchema, NO_FAULTS, type Faults } from './faults.ts';
import { PspHttpError, pspError } from './pspErrors.ts';
import { createSandboxMetrics } from './sandboxMetrics.ts';

/** A capture request is five short fields; anything near this is not one. */
const BODY_LIMIT_BYTES = 16 * 1024;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export interface SandboxOptions {
  /** Where captures.jsonl lives; created if missing. */
  readonly dataDir: string;
  /** Seeds declines, injected errors and capture ids. A random one is chosen (and logged) when absent. */
  readonly seed?: string | undefined;
  /** Key for /control and GET /v1/captures; those routes answer 403 when it is absent. */
  readonly controlKey?: string | undefined;
  /** Initial faults; the rest are off. */
  readonly faults?: Partial<Faults> | undefined;
  /** Defaults to a silent logger. */
  readonly logger?: Logger | undefined;
  readonly now?: (() => Date) | undefined;
}

/** What a capture answers with (201 new, 200 replay). */
export interface CaptureResponseBody {
  readonly captureId: string;
  readonly status: 'captured' | 'declined';
  readonly declineCode?: string;
  readonly amountMinor: string;
  readonly currency: CurrencyCode;
  readonly idempotencyKey: string;
  readonly createdAt: string;
}

const CaptureBodySchema = z
  .object({
    checkoutId: z.uuid(),
    creatorId: z.uuid(),
    customerRef: z.string().min(1).max(255),
    amountMinor: z
      .string()
      .regex(/^[1-9][0-9]{0,12}$/, 'must be a positive integer number of minor units, as a string of digits')
      // zod runs refinements even after the regex failed: guard BigInt, which throws on non-digits.
      .refine(
        (s) => !/^[0-9]+$/.test(s) || BigInt(s) <= MAX_AMOUNT_MINOR,
        `must be at most ${MAX_AMOUNT_MINOR}`,
      ),
    currency: z.enum(SUPPORTED_CURRENCIES as [CurrencyCode, ...CurrencyCode[]]),
  })
  .strict();

/** GET /v1/captures paging: `offset` results are skipped, at most `limit` returned (all when absent). */
const CapturePageQuerySchema = z
  .object({
    offset: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(10_000).optional(),
  })
  .strict();

function invalid(error: z.ZodError, prefix: string): PspHttpError {
  const issue = error.issues[0];
  const path = issue && issue.path.length > 0 ? `${prefix}.${issue.path.map(String).join('.')}` : prefix;
  return pspError('PSP_INVALID_REQUEST', `${path}: ${issue?.message ?? 'invalid'}`, { field: path });
}

function parseIdempotencyKey(header: string | string[] | undefined): string {
  if (header === undefined) {
    throw pspError('PSP_IDEMPOTENCY_KEY_MISSING', 'Idempotency-Key header is required', {
      field: 'header.idempotency-key',
    });
  }
  if (typeof header !== 'string' || !IDEMPOTENCY_KEY.test(header)) {
    throw pspError(
      'PSP_IDEMPOTENCY_KEY_INVALID',
      'Idempotency-Key must be 1-255 printable ASCII characters',
      {
        field: 'header.idempotency-key',
      },
    );
  }
  return header;
}

function parseCaptureBody(body: unknown): CaptureInput {
  const parsed = CaptureBodySchema.safeParse(body);
  if (!parsed.success) throw invalid(parsed.error, 'body');
  return { ...parsed.data, amountMinor: BigInt(parsed.data.amountMinor) };
}

export function captureResponseOf(record: CaptureRecord): CaptureResponseBody {
  return {
    captureId: record.captureId,
    status: record.status,
    ...(record.declineCode === null ? {} : { declineCode: record.declineCode }),
    amountMinor: record.amountMinor.toString(),
    currency: record.currency,
    idempotencyKey: record.idempotencyKey,
    createdAt: record.createdAt.toISOString(),
  };
}

function listItemOf(record: CaptureRecord) {
  return {
    ...captureResponseOf(record),
    checkoutId: record.checkoutId,
    creatorId: record.creatorId,
    customerRef: record.customerRef,
  };
}

/** Maps whatever reached the error handler to one of our codes. */
function toPspError(err: FastifyError | Error): PspHttpError {
  if (err instanceof PspHttpError) return err;
  const code = 'code' in err ? err.code : undefined;
  const statusCode = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500;
  switch (code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return pspError('PSP_UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json', { cause: err });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return pspError('PSP_BODY_TOO_LARGE', `Request body is larger than ${BODY_LIMIT_BYTES} bytes`, {
        cause: err,
      });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return pspError('PSP_MALFORMED_JSON', 'Request body is not valid JSON', { cause: err });
  }
  if (statusCode === 400 && err instanceof SyntaxError) {
    return pspError('PSP_MALFORMED_JSON', `Request body is not valid JSON: ${err.message}`, { cause: err });
  }
  if (statusCode >= 400 && statusCode < 500) {
    return pspError('PSP_INVALID_REQUEST', err.message, { cause: err });
  }
  return pspError('PSP_INTERNAL', 'Internal sandbox error', { cause: err });
}

function sameSecret(given: string, expected: string): boolean {
  // Hash first so the comparison is constant-time whatever the lengths.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export type SandboxApp = Awaited<ReturnType<typeof buildSandboxApp>>;

export async function buildSandboxApp(opts: SandboxOptions) {
  const logger = opts.logger ?? pino({ level: 'silent' });
  const seed = opts.seed ?? randomBytes(8).toString('hex');
  let faults: Faults = { ...NO_FAULTS, ...opts.faults };
  const parsedFaults = FaultsPatchSchema.safeParse(faults);
  if (!parsedFaults.success)
    throw new RangeError(`invalid initial faults: ${z.prettifyError(parsedFaults.error)}`);

  const metrics = createSandboxMetrics();
  const log = await CaptureLog.open(opts.dataDir, {
    onTornTail: (info) => logger.warn(info, 'cut an unacknowledged torn line off the capture record'),
    onDuplicateKey: (info) => logger.error(info, 'capture record holds a key twice; keeping the first'),
  });
  logger.info({ seed, dataDir: opts.dataDir, recorded: log.size, faults }, 'capture record loaded');

  const shutdown = new AbortController();
  const service = new CaptureService({
    seed,
    log,
    metrics,
    logger,
    faults: () => faults,
    now: opts.now ?? (() => new Date()),
    shutdown: shutdown.signal,
  });

  const app = Fastify({
    loggerInstance: logger,
    // One line per capture decision is logged by the service; per-request lines would drown them.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
  });

  // JSON only: a text body is a client bug, and 415 says so more plainly than a schema error.
  app.removeContentTypeParser('text/plain');

  app.addHook('preClose', (done) => {
    shutdown.abort(new Error('sandbox shutting down'));
    done();
  });
  app.addHook('onClose', async () => {
    await log.close();
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const pspErr = toPspError(err);
    metrics.errors.inc({ code: pspErr.code });
    if (pspErr.code === 'PSP_INTERNAL') request.log.error({ err }, 'sandbox error');
    if (pspErr.statusCode === 503) void reply.header('retry-after', '1');
    return reply.code(pspErr.statusCode).send(pspErr.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const err = pspError('PSP_NOT_FOUND', `No route ${request.method} ${request.url}`);
    metrics.errors.inc({ code: err.code });
    return reply.code(err.statusCode).send(err.toJSON());
  });

  const controlKeyError = (request: FastifyRequest): PspHttpError | undefined => {
    if (opts.controlKey === undefined) {
      return pspError('PSP_CONTROL_DISABLED', 'The sandbox was started without a control key');
    }
    const given = request.headers['x-control-key'];
    if (typeof given !== 'string' || !sameSecret(given, opts.controlKey)) {
      return pspError('PSP_UNAUTHORIZED', 'x-control-key is missing or wrong', {
        field: 'header.x-control-key',
      });
    }
    return undefined;
  };
  const control = {
    onRequest: (request: FastifyRequest, _reply: FastifyReply, done: (err?: PspHttpError) => void) =>
      done(controlKeyError(request)),
  };
  const controlState = () => ({ faults, seed, recorded: log.size });

  app.post(
    '/v1/captures',
    {
      // Outage answers before the body is even read: a dead provider does not validate.
      onRequest: (_request, _reply, done) => done(service.unavailableError()),
    },
    async (request, reply) => {
      const key = parseIdempotencyKey(request.headers['idempotency-key']);
      const input = parseCaptureBody(request.body);
      const answer = await service.capture(key, input);
      if (answer.replayed) void reply.header('idempotent-replayed', 'true');
      return reply.code(answer.replayed ? 200 : 201).send(captureResponseOf(answer.record));
    },
  );

  // The provider's record, read over its API (the reconciler, src/reconcile): the whole record, or a
  // page of it from `offset` (the record is append-only, so an offset is a stable cursor), and one
  // key's result. Read-only, behind the control key as a real provider's reads are behind its API key.
  app.get('/v1/captures', control, (request, reply) => {
    const parsed = CapturePageQuerySchema.safeParse(request.query ?? {});
    if (!parsed.success) throw invalid(parsed.error, 'query');
    const all = log.list();
    const { offset, limit } = parsed.data;
    const page = all.slice(offset, limit === undefined ? undefined : offset + limit);
    return reply.send({
      captures: page.map(listItemOf),
      nextOffset: Math.min(all.length, offset + page.length),
      total: all.length,
    });
  });

  app.get('/v1/captures/:idempotencyKey', control, (request, reply) => {
    const { idempotencyKey } = request.params as { idempotencyKey: string };
    const record = log.get(idempotencyKey);
    if (!record) throw pspError('PSP_NOT_FOUND', `No capture has the idempotency key ${idempotencyKey}`);
    return reply.send(listItemOf(record));
  });

  app.get('/control', control, (_request, reply) => reply.send(controlState()));

  app.put('/control', control, (request, reply) => {
    const parsed = FaultsPatchSchema.safeParse(request.body ?? {});
    if (!parsed.success) throw invalid(parsed.error, 'body');
    const before = faults;
    faults = { ...faults, ...parsed.data };
    request.log.info({ before, after: faults }, 'faults changed');
    return reply.send(controlState());
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(text);
  });

  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));

  return app;
}
