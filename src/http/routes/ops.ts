/** Operational endpoints beside the contract. */
import type { FastifyInstance } from 'fastify';
import type { ProviderHealth } from '../../provider/registry.js';
import type { FlowStore } from '../../store/types.js';

export interface OpsRoutesOptions {
  store: FlowStore;
  /** The default provider's issuer. */
  issuer: string;
  providers(): ProviderHealth[];
}

/** The same body says ready (200) and degraded (503). */
const healthSchema = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    issuer: { type: 'string' },
    store: {
      type: 'object',
      properties: { ok: { type: 'boolean' }, detail: { type: 'string' } },
    },
    providers: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          kind: { type: 'string', enum: ['oidc', 'auth0', 'descope'] },
          issuer: { type: 'string' },
          state: { type: 'string', enum: ['up', 'down'] },
          detail: { type: 'string' },
          discovery: { type: 'string', enum: ['cache', 'network'] },
        },
        required: ['id', 'kind', 'issuer', 'state'],
      },
    },
  },
} as const;

export async function opsRoutes(app: FastifyInstance, options: OpsRoutesOptions): Promise<void> {
  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        tags: ['Operations'],
        summary: 'Readiness',
        response: {
          200: healthSchema,
          503: healthSchema,
        },
      },
    },
    async (_request, reply) => {
      const store = await options.store.health();
      const providers = options.providers();
      // Ready while the store works and one provider can sign people in; the others' state is listed.
      const ok = store.ok && providers.some((provider) => provider.state === 'up');
      return reply
        .code(ok ? 200 : 503)
        .send({ status: ok ? 'ok' : 'degraded', issuer: options.issuer, store, providers });
    },
  );

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () =>
    app.openApiDocument(),
  );
}
