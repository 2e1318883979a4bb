/** Operational endpoints beside the contract. */
import type { FastifyInstance } from 'fastify';
import type { FlowStore } from '../../store/types.js';

export interface OpsRoutesOptions {
  store: FlowStore;
  issuer: string;
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
      return reply
        .code(store.ok ? 200 : 503)
        .send({ status: store.ok ? 'ok' : 'degraded', issuer: options.issuer, store });
    },
  );

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () =>
    app.openApiDocument(),
  );
}
