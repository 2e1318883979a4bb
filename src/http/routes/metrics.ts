/**
 * GET /metrics: the Prometheus text exposition (--metrics). Not public: it
 * passes the same Host, Origin and X-Application-ID gates as the API, since
 * the counts say who signs in how often. Hidden from the OpenAPI document,
 * which describes the PKCE API for its clients; Prometheus needs no schema.
 */
import type { FastifyInstance } from 'fastify';
import type { BrokerMetrics } from '../../metrics/metrics.js';

export interface MetricsRoutesOptions {
  metrics: BrokerMetrics;
}

export async function metricsRoutes(
  app: FastifyInstance,
  options: MetricsRoutesOptions,
): Promise<void> {
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const { contentType, body } = await options.metrics.render();
    return reply.type(contentType).send(body);
  });
}
