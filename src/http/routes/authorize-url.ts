/**
 * GET /pkce/authorize-url?state=STATE — beside the contract, for terminal
 * clients (`pkce-broker login`): the broker builds the provider URL inside
 * POST /pkce/code, which answers only once the browser is back, so a client
 * that wants to show the URL asks for it here. Knowing the state (256 random
 * bits, handed only to the app that asked for the challenge) is the
 * capability; the Host, Origin and X-Application-ID gates apply as everywhere.
 */
import type { FastifyInstance } from 'fastify';
import { BrokerError } from '../../errors.js';
import type { FlowStore } from '../../store/types.js';

export interface AuthorizeUrlRoutesOptions {
  store: FlowStore;
}

export async function authorizeUrlRoutes(
  app: FastifyInstance,
  options: AuthorizeUrlRoutesOptions,
): Promise<void> {
  app.get<{ Querystring: { state: string } }>(
    '/pkce/authorize-url',
    {
      schema: {
        tags: ['Operations'],
        summary: 'The provider sign-in URL of a pending flow (for terminal clients)',
        querystring: {
          type: 'object',
          required: ['state'],
          properties: { state: { type: 'string', minLength: 1, maxLength: 1024 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['authorize_url'],
            properties: { authorize_url: { type: 'string' } },
          },
          '4xx': { $ref: 'Problem#' },
          '5xx': { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const flow = await options.store.get(request.query.state);
      const url = flow && !flow.outcome ? flow.request?.authorizeUrl : undefined;
      if (url === undefined) {
        // Also the answer while POST /pkce/code has not yet started the flow: the client retries.
        throw new BrokerError(
          'not_found',
          'No sign-in with this state is waiting for the browser.',
        );
      }
      void reply.header('cache-control', 'no-store');
      return { authorize_url: url };
    },
  );
}
