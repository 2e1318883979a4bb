/**
 * POST /device/code, POST /device/token and POST /device/cancel: the Device
 * Authorization Grant (RFC 8628) beside the PKCE API, with its conventions
 * (JSON, `schema`, problem+json, the same gates). The handle, handed only to
 * the app that started the flow, is what lets a request wait on it or end it.
 * Thin: parse, call DeviceService, answer.
 */
import { emptyBodyIsEmpty, WaitingRequests } from '../waiting.js';
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
  const waiting = new WaitingRequests(options.maxWaiters, 'Too many device sign-ins are waiting.');

  app.post<{ Body: DeviceStartRequest | undefined }>(
    '/device/code',
    {
      config: { contentTypes: JSON_ONLY },
      // No body is "from configuration".
      preValidation: emptyBodyIsEmpty,
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
      // The app went away while the provider answered (Ctrl-C in `login`): nobody has the
      // handle that would end this flow, so it ends here rather than polling until it expires.
      if (request.raw.socket.destroyed) await service.cancel(device.handle);
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
      if (!request.body) throw handleRequired();
      const { handle } = request.body;
      const answer = await waiting.run(reply, (disconnected) =>
        service.waitForToken(handle, disconnected),
      );
      void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return answer;
    },
  );

  app.post<{ Body: DeviceTokenRequest }>(
    '/device/cancel',
    {
      config: { contentTypes: JSON_ONLY },
      schema: {
        operationId: 'deviceCancel',
        tags: ['Device'],
        summary:
          'End the device sign-in of a handle: polling stops, a waiting /device/token answers 409',
        body: deviceTokenRequestJson,
        response: { 204: { type: 'null' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      if (!request.body) throw handleRequired();
      await service.cancel(request.body.handle);
      return reply.code(204).send();
    },
  );
}

function handleRequired(): BrokerError {
  return new BrokerError('invalid_request', 'A body { "handle" } is required.', {
    oauthError: 'invalid_request',
  });
}
