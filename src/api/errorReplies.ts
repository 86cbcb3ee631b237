// Every error the API answers has the shape { error: { code, message, field? } }
// with one of our stable codes, including the errors Fastify raises itself
// before a handler runs (bad JSON, wrong content type, body too large, a URL
// that does not decode, an unknown route). Nothing unexpected leaks: an error
// we did not make becomes a generic FB_INTERNAL 500, logged with its stack.

import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
} from 'fastify';
import { fbError, isFirebreakError, type FirebreakError } from '../errors/index.ts';

type FastifyErrorLike = Partial<Pick<FastifyError, 'code' | 'statusCode'>> & Error;

/** Maps any error to the FirebreakError a client sees. */
export function toFirebreakError(err: unknown, bodyLimitBytes: number): FirebreakError {
  if (isFirebreakError(err)) return err;
  const e = (err instanceof Error ? err : new Error(String(err))) as FastifyErrorLike;
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return fbError(
        'FB_UNSUPPORTED_MEDIA_TYPE',
        'Content-Type must be application/json; send the body as JSON.',
        {
          field: 'header.content-type',
          cause: e,
        },
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return fbError(
        'FB_BODY_TOO_LARGE',
        `The request body is larger than ${bodyLimitBytes} bytes; a checkout request is a small JSON object.`,
        { field: 'body', cause: e },
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return fbError('FB_MALFORMED_JSON', 'The request body is empty; send the checkout as a JSON object.', {
        field: 'body',
        cause: e,
      });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return fbError(
        'FB_MALFORMED_JSON',
        'The request body is not valid JSON; send the checkout as a JSON object.',
        {
          field: 'body',
          cause: e,
        },
      );
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return fbError('FB_BAD_REQUEST', 'The request body size did not match its Content-Length header.', {
        field: 'header.content-length',
        cause: e,
      });
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_INVALID_URL':
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return fbError(
        'FB_BAD_REQUEST',
        'The request URL is malformed; check the path and its percent-encoding.',
        {
          field: 'url',
          cause: e,
        },
      );
    default:
      break;
  }
  const status = e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // e.g. the client went away mid-body; Fastify marks such stream errors 400.
    return fbError('FB_BAD_REQUEST', 'The request could not be read as sent; check it and send it again.', {
      cause: e,
    });
  }
  return fbError(
    'FB_INTERNAL',
    'Something went wrong on our side; try again later with the same Idempotency-Key.',
    {
      cause: e,
    },
  );
}

/** Writes a FirebreakError as the reply, with the headers its status calls for. */
export function sendError(reply: FastifyReply, error: FirebreakError): FastifyReply {
  if (error.retryAfterSec !== undefined)
    reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterSec))));
  if (error.statusCode === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(error.statusCode).type('application/json; charset=utf-8').send(error.toJSON());
}

function logError(request: FastifyRequest, original: unknown, mapped: FirebreakError): void {
  if (mapped.code === 'FB_INTERNAL') {
    request.log.error({ err: original, code: mapped.code }, 'request failed');
  } else {
    // Expected outcomes; store failures behind a 503 are logged where they happen (storeCall).
    request.log.info({ code: mapped.code, field: mapped.field }, 'request rejected');
  }
}

export function handleError(
  request: FastifyRequest,
  reply: FastifyReply,
  err: unknown,
  bodyLimitBytes: number,
): void {
  const mapped = toFirebreakError(err, bodyLimitBytes);
  logError(request, err, mapped);
  if (reply.sent) return;
  sendError(reply, mapped);
}

/** Installs the error, not-found and framework-error handlers on an app. */
export function installErrorReplies(app: FastifyInstance, bodyLimitBytes: number): void {
  app.setErrorHandler((err, request, reply) => {
    handleError(request, reply, err, bodyLimitBytes);
  });
  app.setNotFoundHandler((request, reply) => {
    sendError(
      reply,
      fbError(
        'FB_NOT_FOUND',
        `No route matches ${request.method} on this path; check the method and the URL.`,
      ),
    );
  });
}

/** An onRequest hook from a check that throws a FirebreakError to refuse the request. */
export function refuseUnless(check: (request: FastifyRequest) => void): onRequestHookHandler {
  return (request, _reply, done) => {
    try {
      check(request);
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  };
}
