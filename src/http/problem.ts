/**
 * The one place errors become HTTP answers: RFC 9457 problem+json for API
 * callers, an HTML page for a browser at the callback.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError, isBrokerError, type BrokerErrorCode } from '../errors.js';
import { CALLBACK_PAGE_HEADERS, prefersHtml, renderCallbackPage } from './callback-page.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  error?: string;
  error_description?: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function toProblem(error: BrokerError): Problem {
  const detail = error.expose ? error.message : 'The broker failed to handle this request.';
  return {
    type: `urn:pkce-broker:error:${error.code}`,
    title: TITLES[error.status] ?? 'Error',
    status: error.status,
    detail,
    code: error.code,
    ...(error.oauthError !== undefined && { error: error.oauthError, error_description: detail }),
  };
}

/** Fastify's own errors (parsing, limits, validation) as BrokerErrors with stable codes. */
export function fromFastifyError(error: FastifyError): BrokerError {
  if (error.validation) {
    return new BrokerError('invalid_request', `Invalid request: ${error.message}`, {
      oauthError: 'invalid_request',
    });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new BrokerError('payload_too_large', 'The request body is too large.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new BrokerError(
        'invalid_request',
        'The body is not valid JSON (or carries a __proto__ or constructor.prototype key).',
        {
          oauthError: 'invalid_request',
        },
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new BrokerError(
        'unsupported_media_type',
        'This endpoint does not accept that Content-Type.',
      );
    default:
      break;
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return new BrokerError('invalid_request', error.message || 'Invalid request.', {
      oauthError: 'invalid_request',
    });
  }
  return new BrokerError('internal', 'Internal error.', { cause: error });
}

/** Told of every error answer (the metrics): the route template, never the URL, and the code. */
export type ErrorCounter = (route: string, code: BrokerErrorCode) => void;

/** A request no route matched (404, a target the router refused): one label for all of them. */
export const UNMATCHED_ROUTE = '(unmatched)';

type ErrorHandler = (
  error: FastifyError | BrokerError,
  request: FastifyRequest,
  reply: FastifyReply,
) => void;

/** The error handler, telling `count` of each error answer. */
export function problemHandler(count?: ErrorCounter): ErrorHandler {
  if (count === undefined) return errorHandler;
  return (error, request, reply) => {
    const code = isBrokerError(error) ? error.code : fromFastifyError(error).code;
    count(request.routeOptions.url ?? UNMATCHED_ROUTE, code);
    errorHandler(error, request, reply);
  };
}

export function errorHandler(
  this: unknown,
  error: FastifyError | BrokerError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const brokerError = isBrokerError(error) ? error : fromFastifyError(error);
  if (brokerError.status >= 500) {
    request.log.error({ err: error, errorCode: brokerError.code }, brokerError.message);
  } else {
    request.log.info(
      { errorCode: brokerError.code, status: brokerError.status },
      brokerError.message,
    );
  }
  if (reply.raw.destroyed) return;
  if (brokerError.retryAfter !== undefined)
    reply.header('retry-after', String(brokerError.retryAfter));
  reply.header('cache-control', 'no-store');
  const config = request.routeOptions.config as { htmlAnswers?: boolean } | undefined;
  if (config?.htmlAnswers && prefersHtml(request.headers.accept)) {
    void reply
      .headers(CALLBACK_PAGE_HEADERS)
      .code(brokerError.status)
      .type('text/html; charset=utf-8')
      .send(
        renderCallbackPage({
          ok: false,
          status: brokerError.status,
          message: toProblem(brokerError).detail ?? '',
        }),
      );
    return;
  }
  void reply
    .code(brokerError.status)
    .type('application/problem+json')
    .send(JSON.stringify(toProblem(brokerError)));
}
