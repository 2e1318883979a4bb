/**
 * GET /docs: the OpenAPI document rendered for people by @fastify/swagger-ui,
 * every asset served from the broker itself (no CDN).
 *
 * Loaded on the first request, not at start-up: Fastify cannot add routes once
 * it is listening, so /docs and /docs/* forward to a small Fastify instance
 * that is built (and @fastify/swagger-ui imported) only when someone asks.
 * What it buys: registering @fastify/swagger-ui on the broker made `serve`
 * start 18 % and 20 % slower (448 → 528 ms, 718 → 862 ms, median of 10
 * starts, alternating runs; bench/README.md).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const DOCS_PREFIX = '/docs';

/** Hop-by-hop or per-connection headers that must not be copied from the inner answer. */
const DROPPED_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'date',
  'content-length',
]);
/** Request headers that matter to static files and content negotiation. */
const FORWARDED_HEADERS = [
  'accept',
  'accept-encoding',
  'if-none-match',
  'if-modified-since',
  'range',
] as const;

async function buildDocsApp(document: Record<string, unknown>): Promise<FastifyInstance> {
  const [{ default: Fastify }, { default: swagger }, { default: swaggerUi }] = await Promise.all([
    import('fastify'),
    import('@fastify/swagger'),
    import('@fastify/swagger-ui'),
  ]);
  const docs = Fastify({ logger: false });
  await docs.register(swagger, { mode: 'static', specification: { document: document as never } });
  await docs.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    // No third parties: the validator badge would call validator.swagger.io.
    uiConfig: { validatorUrl: null, deepLinking: true },
    staticCSP: true,
    // The plugin's default policy allows https: fonts and styles and the validator, and upgrades
    // requests to https — which would break the page on http://127.0.0.1. Keep it to 'self'.
    transformStaticCSP: (header: string) =>
      header
        .replace(/\s*upgrade-insecure-requests;?/g, '')
        .replace(/ https:/g, '')
        .replace(/ validator\.swagger\.io/g, '')
        .replace("frame-ancestors 'self'", "frame-ancestors 'none'")
        // Swagger UI sets inline styles as it renders; styles only — scripts stay 'self'.
        .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
  });
  await docs.ready();
  return docs;
}

export async function docsRoutes(app: FastifyInstance): Promise<void> {
  let docs: Promise<FastifyInstance> | undefined;
  app.addHook('onClose', async () => {
    if (docs) await (await docs.catch(() => undefined))?.close();
  });

  const forward = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    docs ??= app
      .openApiDocument()
      .then(buildDocsApp)
      .catch((error: unknown) => {
        docs = undefined;
        throw error;
      });
    const inner = await (
      await docs
    ).inject({
      method: request.method as 'GET' | 'HEAD',
      url: request.url,
      headers: Object.fromEntries(
        FORWARDED_HEADERS.flatMap((name) => {
          const value = request.headers[name];
          return typeof value === 'string' ? [[name, value]] : [];
        }),
      ),
    });
    for (const [name, value] of Object.entries(inner.headers)) {
      if (value !== undefined && !DROPPED_HEADERS.has(name)) void reply.header(name, value);
    }
    return reply.code(inner.statusCode).send(inner.rawPayload);
  };

  const options = { config: { public: true }, schema: { hide: true } };
  app.get(DOCS_PREFIX, options, forward);
  app.get(`${DOCS_PREFIX}/*`, options, forward);
}
