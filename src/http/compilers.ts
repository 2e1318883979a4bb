/**
 * Schema compilers that cost nothing at start-up. ajv loads when the first
 * request that needs validation arrives (it waits for it, once), each schema
 * compiles on first use, and answers are written with JSON.stringify.
 *
 * What it buys: importing ajv and fast-json-stringify and compiling every
 * route schema at start-up (Fastify's default) made `serve` start 27–64 %
 * slower (356 → 451 ms and 394 → 647 ms, median of 10 starts, alternating
 * runs; bench/README.md). A compiled serializer for GET /pkce/challenge was
 * tried and dropped: it bought 0–4 % req/s, within the noise.
 */
import type { ValidatorFactory } from '@fastify/ajv-compiler';
import type { SerializerFactory } from '@fastify/fast-json-stringify-compiler';
import type { FastifyInstance } from 'fastify';
import type { FastifySchemaCompiler, FastifyValidationResult } from 'fastify/types/schema.js';
import { SHARED_SCHEMAS } from '../protocol/models.js';

type AjvInstance = InstanceType<typeof import('ajv').Ajv>;
type Validate = FastifyValidationResult;
type Serializer = (data: unknown) => string;

let ajv: AjvInstance | undefined;
let ajvLoading: Promise<void> | undefined;

function loadAjv(): Promise<void> {
  ajvLoading ??= import('ajv').then(({ Ajv }) => {
    // Fastify's own defaults, but no coercion and no silent removal: a wrong type or key is refused.
    const instance = new Ajv({
      coerceTypes: false,
      useDefaults: true,
      removeAdditional: false,
      allErrors: false,
      strict: false,
    });
    for (const schema of SHARED_SCHEMAS) instance.addSchema(schema);
    ajv = instance;
  });
  return ajvLoading;
}

export const lazyValidatorCompiler: FastifySchemaCompiler<unknown> = ({ schema }) => {
  let compiled: Validate | undefined;
  const validate: Validate = (data: unknown) => {
    if (!ajv) throw new Error('ajv is not loaded: the preValidation gate must run first');
    compiled ??= ajv.compile(schema as object) as unknown as Validate;
    const ok = compiled(data);
    validate.errors = compiled.errors ?? null;
    return ok;
  };
  return validate;
};

/**
 * Holds the first requests that need validation until ajv is loaded; free
 * afterwards. Attached only to routes with request schemas, so the others
 * (GET /pkce/challenge) carry no extra hook at all.
 */
export function registerValidationGate(app: FastifyInstance): void {
  const gate = (_request: unknown, _reply: unknown, done: (error?: Error) => void): void => {
    if (ajv) done();
    else loadAjv().then(() => done(), done);
  };
  app.addHook('onRoute', (route) => {
    const schema = route.schema;
    if (!(schema?.body || schema?.querystring || schema?.params || schema?.headers)) return;
    const existing = route.preValidation;
    route.preValidation =
      existing === undefined
        ? [gate]
        : [gate, ...(Array.isArray(existing) ? existing : [existing])];
  });
}

export const plainSerializer = (): Serializer => (data) => JSON.stringify(data);

/**
 * The compilers above as Fastify's `schemaController.compilersFactory`: given at
 * construction, Fastify never requires its defaults (@fastify/ajv-compiler and
 * @fastify/fast-json-stringify-compiler, which load ajv and fast-json-stringify,
 * ~450 KB of modules) only to have them replaced by setValidatorCompiler. Fastify
 * calls each builder for a compiler of the route-schema shape the two above have;
 * its types describe ajv-compiler's builders, hence the casts.
 */
export const lazyCompilersFactory = {
  buildValidator: (() => lazyValidatorCompiler) as unknown as ValidatorFactory,
  buildSerializer: (() => plainSerializer) as unknown as SerializerFactory,
};
