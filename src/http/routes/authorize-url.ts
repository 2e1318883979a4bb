/**
 * GET /pkce/authorize-url?state=STATE — beside the contract, for terminal
 * clients (`pkce-broker login`): POST /pkce/code opens the provider URL and
 * answers only once the browser is back, so a client that wants to show the
 * URL asks for it here. Each answer is built afresh (FlowService.authorizeUrl):
 * with PAR a new push, so a provider error answers with its problem. Knowing
 * the state (256 random bits, handed only to the app that asked for the
 * challenge) is the capability; the Host, Origin and X-Application-ID gates
 * apply as everywhere. Each flow has a budget of these (limits.ts): every
 * answer may cost a push to the provider.
 */
import type { FastifyInstance } from 'fastify';
import type { FlowService } from '../../flow/service.js';
import { AUTHORIZE_URL_BUDGET, FlowBudget, type FlowBudgetOptions } from '../limits.js';

export interface AuthorizeUrlRoutesOptions {
  service: FlowService;
  /** Default AUTHORIZE_URL_BUDGET. */
  budget?: FlowBudgetOptions;
}

export async function authorizeUrlRoutes(
  app: FastifyInstance,
  options: AuthorizeUrlRoutesOptions,
): Promise<void> {
  const budget = new FlowBudget(options.budget ?? AUTHORIZE_URL_BUDGET);
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
      const url = await options.service.authorizeUrl(request.query.state, (state) =>
        budget.take(state),
      );
      void reply.header('cache-control', 'no-store');
      return { authorize_url: url.href };
    },
  );
}
