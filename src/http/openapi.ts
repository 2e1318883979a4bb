/**
 * The OpenAPI document, generated from the route schemas on first request.
 * The broker records its routes as they are added, and the first GET
 * /openapi.json (or /docs) replays them into a throwaway Fastify instance with
 * @fastify/swagger, whose document is kept.
 *
 * Why not @fastify/swagger on the broker itself: it (and the YAML library it
 * loads) is on the way to the first /healthz 200. Registered at start-up it
 * made `serve` start 26–82 % slower (356 → 448 ms and 394 → 718 ms, median of
 * 10 starts, in alternating runs; bench/README.md).
 */
import type { FastifyInstance, HTTPMethods, RouteOptions } from 'fastify';
import { SHARED_SCHEMAS } from '../protocol/models.js';

export type OpenApiDocument = Record<string, unknown> & {
  paths: Record<string, Record<string, unknown>>;
};

declare module 'fastify' {
  interface FastifyInstance {
    /** The OpenAPI 3 document of every route with a schema, built once on first use. */
    openApiDocument(): Promise<OpenApiDocument>;
  }
}

interface RecordedRoute {
  method: HTTPMethods | HTTPMethods[];
  url: string;
  schema: RouteOptions['schema'];
}

export interface OpenApiInfo {
  title: string;
  description: string;
  version: string;
}

async function generate(
  routes: readonly RecordedRoute[],
  info: OpenApiInfo,
): Promise<OpenApiDocument> {
  const [{ default: Fastify }, { default: swagger }] = await Promise.all([
    import('fastify'),
    import('@fastify/swagger'),
  ]);
  const scratch = Fastify({ logger: false, exposeHeadRoutes: false });
  // Only the document is wanted: nothing is validated or serialised here.
  scratch.setValidatorCompiler(() => () => true);
  scratch.setSerializerCompiler(() => (data) => JSON.stringify(data));
  for (const schema of SHARED_SCHEMAS) scratch.addSchema(schema);
  await scratch.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info,
      components: {
        securitySchemes: {
          application: { type: 'apiKey', in: 'header', name: 'X-Application-ID' },
        },
      },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
  });
  await scratch.register(async (inner) => {
    for (const route of routes) inner.route({ ...route, handler: async () => null });
  });
  await scratch.ready();
  const document = scratch.swagger() as unknown as OpenApiDocument;
  await scratch.close();
  return document;
}

/** Records the routes added after this call and decorates `app.openApiDocument()`. */
export function recordOpenApi(app: FastifyInstance, info: OpenApiInfo): void {
  const routes: RecordedRoute[] = [];
  app.addHook('onRoute', (route) => {
    const hidden = (route.schema as { hide?: boolean } | undefined)?.hide === true;
    if (route.method === 'HEAD' || hidden) return;
    routes.push({ method: route.method, url: route.url, schema: route.schema });
  });
  let document: Promise<OpenApiDocument> | undefined;
  app.decorate('openApiDocument', () => {
    document ??= generate(routes, info).catch((error: unknown) => {
      document = undefined;
      throw error;
    });
    return document;
  });
}
