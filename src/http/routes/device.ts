/**
 * POST /device/code and POST /device/token: the Device Authorization Grant
 * (RFC 8628) beside the PKCE API, with its conventions (JSON, `schema`,
 * problem+json, the same gates). Thin: parse, call DeviceService, answer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError } from '../../errors.js';
import type { DeviceService } from '../../flow/device.js';
import {
  MODEL_SCHEMA,
  deviceCodeAnswerJson,
  deviceStartRequestJson,
  deviceTokenRequestJson,
  type DeviceStartRequest,
  type DeviceTokenRequest,
} from '../../protocol/models.js';

const problemResponses = {
  '4xx': { $ref: 'Problem#' },
  '5xx': { $ref: 'Problem#' },
} as const;

const JSON_ONLY = ['application/json'];

export interface DeviceRoutesOptions {
  service: DeviceService;
  maxWaiters: number;
}

export async function deviceRoutes(
  app: FastifyInstance,
  options: DeviceRoutesOptions,
): Promise<void> {
  const { service } = options;
  let waiting = 0;

  app.post<{ Body: DeviceStartRequest | undefined }>(
    '/device/code',
    {
      config: { contentTypes: JSON_ONLY },
      // No body is "from configuration".
      preValidation: async (request: FastifyRequest<{ Body: DeviceStartRequest | undefined }>) => {
        request.body ??= {};
      },
      schema: {
        operationId: 'deviceCode',
        tags: ['Device'],
        summary: 'Start a device sign-in (RFC 8628): the user code to show, and a handle',
        body: deviceStartRequestJson,
        response: { 200: deviceCodeAnswerJson, ...problemResponses },
      },
    },
    async (request, reply) => {
      const device = await service.start(request.body ?? {});
      void reply.header('cache-control', 'no-store');
      return { schema: MODEL_SCHEMA, device };
    },
  );

  app.post<{ Body: DeviceTokenRequest }>(
    '/device/token',
    {
      config: { contentTypes: JSON_ONLY },
      schema: {
        operationId: 'deviceToken',
        tags: ['Device'],
        summary: 'Wait for the device sign-in of a handle and receive its tokens',
        body: deviceTokenRequestJson,
        response: { 200: { $ref: 'PKCE#' }, ...problemResponses },
      },
    },
    async (request: FastifyRequest<{ Body: DeviceTokenRequest }>, reply: FastifyReply) => {
      if (!request.body)
        throw new BrokerError('invalid_request', 'A body { "handle" } is required.', {
          oauthError: 'invalid_request',
        });
      if (waiting >= options.maxWaiters) {
        throw new BrokerError('too_many_waiters', 'Too many device sign-ins are waiting.', {
          retryAfter: 5,
        });
      }
      const disconnected = new AbortController();
      const onClose = (): void => {
        if (!reply.raw.writableEnded) disconnected.abort(new Error('client disconnected'));
      };
      reply.raw.on('close', onClose);
      waiting += 1;
      try {
        const answer = await service.waitForToken(request.body.handle, disconnected.signal);
        void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
        return answer;
      } finally {
        waiting -= 1;
        reply.raw.off('close', onClose);
      }
    },
  );
}
