/** POST /pkce/revoke and POST /pkce/logout, beside the PKCE API. Thin: parse, call SessionService, answer. */
import type { FastifyInstance } from 'fastify';
import { BrokerError } from '../../errors.js';
import type { SessionService } from '../../flow/session.js';
import type { LogoutPKCE, RevokedPKCE } from '../../protocol/models.js';

const problemResponses = {
  '4xx': { $ref: 'Problem#' },
  '5xx': { $ref: 'Problem#' },
} as const;

const JSON_ONLY = ['application/json'];

export interface SessionRoutesOptions {
  service: SessionService;
}

export async function sessionRoutes(
  app: FastifyInstance,
  options: SessionRoutesOptions,
): Promise<void> {
  const { service } = options;

  app.post<{ Body: RevokedPKCE | undefined }>(
    '/pkce/revoke',
    {
      config: { contentTypes: JSON_ONLY },
      schema: {
        operationId: 'revokeToken',
        tags: ['Session'],
        summary: 'Revoke a refresh or access token at the provider (RFC 7009)',
        body: { $ref: 'RevokedPKCE#' },
        response: { 204: { type: 'null' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      if (!request.body)
        throw new BrokerError('invalid_request', 'A RevokedPKCE body is required.', {
          oauthError: 'invalid_request',
        });
      await service.revoke(request.body);
      return reply.code(204).send();
    },
  );

  app.post<{ Body: LogoutPKCE | undefined }>(
    '/pkce/logout',
    {
      config: { contentTypes: JSON_ONLY },
      schema: {
        operationId: 'logout',
        tags: ['Session'],
        summary: "Revoke the refresh token and get (or open) the provider's sign-out URL",
        body: { $ref: 'LogoutPKCE#' },
        response: { 200: { $ref: 'LoggedOutPKCE#' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const answer = await service.logout(request.body ?? {});
      // The URL may carry the ID token (id_token_hint).
      void reply.header('cache-control', 'no-store');
      return answer;
    },
  );
}
