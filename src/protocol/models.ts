/**
 * The wire models of the PKCE API, with the exact JSON keys of the official
 * client (`@pieces.app/pieces-os-client`, dist/models/*.js). Each model is
 * written once, as the JSON Schema the Fastify routes use (validation, fast
 * serialisation, the OpenAPI document); its TypeScript type is derived from
 * that schema with json-schema-to-ts's `FromSchema`, so the two cannot drift.
 *
 * Why json-schema-to-ts and not TypeBox: `FromSchema` is a type and nothing
 * else, so the import is erased at compile time and the schemas stay the plain
 * objects below, loaded for free at start-up (the lazy compilers of
 * src/http/compilers.ts rely on that). TypeBox builds its schemas by calling
 * its runtime at import, which `serve` would load before it is ready.
 *
 * Request models (SeededPKCE, TokenizedPKCE) are bounded and refuse unknown
 * keys; answer models list exactly the keys the broker sends
 * (`additionalProperties: false`), so a misspelt key in an answer is a type error.
 */
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

export const SEMANTIC_VERSION = 'MAJOR_0_MINOR_0_PATCH_1';

const str = { type: 'string' } as const;
/** Bounded strings keep hostile bodies cheap to reject. */
const shortStr = { type: 'string', maxLength: 2048 } as const;

export const embeddedModelSchemaJson = {
  $id: 'EmbeddedModelSchema',
  type: 'object',
  additionalProperties: false,
  properties: {
    migration: { type: 'integer' },
    semantic: { type: 'string', enum: [SEMANTIC_VERSION] },
  },
  required: ['migration', 'semantic'],
} as const;

export const challengedPkceJson = {
  $id: 'ChallengedPKCE',
  type: 'object',
  additionalProperties: false,
  properties: {
    schema: { $ref: 'EmbeddedModelSchema#' },
    state: str,
    nonce: str,
    challenge: str,
    method: { type: 'string', enum: ['S256'] },
    verifier: str,
  },
  required: ['state', 'nonce', 'challenge', 'method', 'verifier'],
} as const;

export const seededPkceJson = {
  $id: 'SeededPKCE',
  type: 'object',
  additionalProperties: false,
  properties: {
    // Accepted and ignored, whatever it holds.
    schema: {},
    response_type: shortStr,
    state: shortStr,
    nonce: shortStr,
    redirect_uri: shortStr,
    code_challenge: shortStr,
    code_challenge_method: shortStr,
    domain: shortStr,
    audience: shortStr,
    screen_hint: shortStr,
    prompt: shortStr,
    organization: shortStr,
    invitation: shortStr,
    scope: { type: 'array', items: { type: 'string', maxLength: 256 }, maxItems: 64 },
    client_id: shortStr,
    ADDITIONAL_PARAMETERS: {
      type: 'object',
      additionalProperties: false,
      properties: { access_type: shortStr, display: shortStr },
    },
    response_mode: shortStr,
  },
} as const;

/** The seed as echoed in answers (no limits: it is ours). */
export const seededPkceOutJson = {
  $id: 'SeededPKCEOut',
  type: 'object',
  additionalProperties: false,
  properties: {
    schema: { $ref: 'EmbeddedModelSchema#' },
    response_type: str,
    state: str,
    nonce: str,
    redirect_uri: str,
    code_challenge: str,
    code_challenge_method: str,
    domain: str,
    audience: str,
    screen_hint: str,
    prompt: str,
    organization: str,
    invitation: str,
    scope: { type: 'array', items: str },
    client_id: str,
    ADDITIONAL_PARAMETERS: {
      type: 'object',
      additionalProperties: false,
      properties: { access_type: str, display: str },
    },
    response_mode: str,
  },
} as const;

export const resultedPkceJson = {
  $id: 'ResultedPKCE',
  type: 'object',
  additionalProperties: false,
  properties: { schema: { $ref: 'EmbeddedModelSchema#' }, code: str, state: str },
  required: ['code', 'state'],
} as const;

export const tokenizedPkceJson = {
  $id: 'TokenizedPKCE',
  type: 'object',
  additionalProperties: false,
  properties: {
    // Accepted and ignored, whatever it holds.
    schema: {},
    grant_type: shortStr,
    client_id: shortStr,
    code: { type: 'string', maxLength: 8192 },
    redirect_uri: shortStr,
    code_verifier: shortStr,
    audience: shortStr,
  },
  required: ['grant_type'],
} as const;

/** The token request as echoed in answers: never the code, the refresh token or the verifier. */
export const tokenizedPkceOutJson = {
  $id: 'TokenizedPKCEOut',
  type: 'object',
  additionalProperties: false,
  properties: {
    schema: { $ref: 'EmbeddedModelSchema#' },
    grant_type: {
      type: 'string',
      enum: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    },
    client_id: str,
    redirect_uri: str,
    audience: str,
  },
} as const;

export const oauthTokenJson = {
  $id: 'OAuthToken',
  type: 'object',
  additionalProperties: false,
  properties: {
    schema: { $ref: 'EmbeddedModelSchema#' },
    access_token: str,
    // The SDK's enum knows only "Bearer" (and "UNKNOWN").
    token_type: { type: 'string', enum: ['Bearer'] },
    expires_in: { type: 'number' },
    scope: str,
    refresh_token: str,
    id_token: str,
  },
  required: ['access_token', 'token_type', 'expires_in'],
} as const;

/** Part of Auth0, not a shared schema: it has no `$id` and no entry of its own in the OpenAPI document. */
const auth0UserJson = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: str,
    picture: str,
    email: str,
    email_verified: { type: 'boolean' },
    family_name: str,
    given_name: str,
    nickname: str,
    username: str,
    locale: str,
    user_id: str,
    updated_at: str,
  },
} as const;

export const auth0Json = {
  $id: 'Auth0',
  type: 'object',
  additionalProperties: false,
  properties: {
    domain: str,
    client: str,
    audience: str,
    redirects: {
      type: 'object',
      additionalProperties: false,
      properties: { authenticated: str, unauthenticated: str },
    },
    oAuth: {
      type: 'object',
      additionalProperties: false,
      properties: { token: { $ref: 'OAuthToken#' } },
    },
    user: auth0UserJson,
    namespace: str,
  },
  required: ['domain', 'client', 'audience', 'redirects', 'oAuth'],
} as const;

/**
 * The SDK's DescopeUser, from the ID token's claims. Part of Descope, not a
 * shared schema. userId, id, givenName, familyName and email are required in
 * the SDK's model (instanceOfDescopeUser), so they are always sent.
 */
const descopeUserJson = {
  type: 'object',
  additionalProperties: false,
  properties: {
    userId: str,
    id: str,
    givenName: str,
    middleName: str,
    familyName: str,
    name: str,
    email: str,
    phone: str,
    picture: str,
    loginIds: { type: 'array', items: str },
    isVerifiedEmail: { type: 'boolean' },
  },
  required: ['userId', 'id', 'givenName', 'familyName', 'email'],
} as const;

/** The SDK's Descope: what a Descope provider's sign-in answers, beside Auth0's shape. */
export const descopeJson = {
  $id: 'Descope',
  type: 'object',
  additionalProperties: false,
  properties: {
    redirects: auth0Json.properties.redirects,
    oAuth: auth0Json.properties.oAuth,
    user: descopeUserJson,
    audience: str,
  },
  required: ['redirects', 'oAuth'],
} as const;

export const pkceJson = {
  $id: 'PKCE',
  type: 'object',
  additionalProperties: false,
  properties: {
    schema: { $ref: 'EmbeddedModelSchema#' },
    result: { $ref: 'ResultedPKCE#' },
    challenge: { $ref: 'ChallengedPKCE#' },
    seed: { $ref: 'SeededPKCEOut#' },
    token: { $ref: 'TokenizedPKCEOut#' },
    auth0: { $ref: 'Auth0#' },
    descope: { $ref: 'Descope#' },
  },
  required: ['schema'],
} as const;

export const problemJson = {
  $id: 'Problem',
  type: 'object',
  properties: {
    type: str,
    title: str,
    status: { type: 'integer' },
    detail: str,
    code: str,
    error: str,
    error_description: str,
  },
  required: ['type', 'title', 'status'],
} as const;

/**
 * POST /pkce/revoke: the SDK's RevokedPKCE (`schema`, `client_id`, `token`,
 * the two required), plus RFC 7009's optional `token_type_hint`.
 */
export const revokedPkceJson = {
  $id: 'RevokedPKCE',
  type: 'object',
  additionalProperties: false,
  properties: {
    // Accepted and ignored, whatever it holds.
    schema: {},
    client_id: shortStr,
    token: { type: 'string', minLength: 1, maxLength: 8192 },
    token_type_hint: { type: 'string', enum: ['refresh_token', 'access_token'] },
  },
  required: ['client_id', 'token'],
} as const;

/** POST /pkce/logout: what to revoke and where the browser goes after the provider's sign-out. */
export const logoutPkceJson = {
  $id: 'LogoutPKCE',
  type: 'object',
  additionalProperties: false,
  properties: {
    schema: {},
    client_id: shortStr,
    refresh_token: { type: 'string', minLength: 1, maxLength: 8192 },
    id_token_hint: { type: 'string', minLength: 1, maxLength: 8192 },
    post_logout_redirect_uri: shortStr,
    /** Open the logout URL in the user's browser, as POST /pkce/code opens the sign-in. */
    open: { type: 'boolean' },
  },
} as const;

export const loggedOutPkceJson = {
  $id: 'LoggedOutPKCE',
  type: 'object',
  additionalProperties: false,
  properties: {
    schema: { $ref: 'EmbeddedModelSchema#' },
    /** The provider's RP-initiated logout URL; absent when it has none. */
    logout_url: str,
  },
  required: ['schema'],
} as const;

/** Every shared schema, in dependency order, for `fastify.addSchema`. */
export const SHARED_SCHEMAS = [
  embeddedModelSchemaJson,
  challengedPkceJson,
  seededPkceJson,
  seededPkceOutJson,
  resultedPkceJson,
  tokenizedPkceJson,
  tokenizedPkceOutJson,
  oauthTokenJson,
  auth0Json,
  descopeJson,
  pkceJson,
  problemJson,
  revokedPkceJson,
  logoutPkceJson,
  loggedOutPkceJson,
] as const;

// ---- Beside the PKCE API: the Device Authorization Grant (RFC 8628) ------

/** POST /device/code's body (optional). `domain` picks the provider as for /pkce/code. */
export const deviceStartRequestJson = {
  type: 'object',
  additionalProperties: false,
  properties: {
    domain: shortStr,
    scope: shortStr,
    audience: shortStr,
  },
} as const;

/** What the app shows the person; `handle` is the app's capability for POST /device/token. */
export const deviceAuthorizationJson = {
  type: 'object',
  additionalProperties: false,
  properties: {
    user_code: str,
    verification_uri: str,
    verification_uri_complete: str,
    expires_in: { type: 'integer' },
    interval: { type: 'integer' },
    handle: str,
  },
  required: ['user_code', 'verification_uri', 'expires_in', 'interval', 'handle'],
} as const;

export const deviceCodeAnswerJson = {
  type: 'object',
  additionalProperties: false,
  properties: {
    schema: { $ref: 'EmbeddedModelSchema#' },
    device: deviceAuthorizationJson,
  },
  required: ['schema', 'device'],
} as const;

export const deviceTokenRequestJson = {
  type: 'object',
  additionalProperties: false,
  properties: { handle: { type: 'string', minLength: 1, maxLength: 256 } },
  required: ['handle'],
} as const;

// ---- The types, from the schemas ----------------------------------------

/** The type of a model: its schema, with the `$ref`s resolved against the shared schemas. */
type Model<S extends JSONSchema> = FromSchema<S, { references: [...typeof SHARED_SCHEMAS] }>;

export type EmbeddedModelSchema = Model<typeof embeddedModelSchemaJson>;
export type ChallengedPKCE = Model<typeof challengedPkceJson>;
export type SeededPKCE = Model<typeof seededPkceJson>;
export type SeededPKCEOut = Model<typeof seededPkceOutJson>;
export type ResultedPKCE = Model<typeof resultedPkceJson>;
export type TokenizedPKCE = Model<typeof tokenizedPkceJson>;
export type TokenizedPKCEOut = Model<typeof tokenizedPkceOutJson>;
export type OAuthToken = Model<typeof oauthTokenJson>;
export type Auth0User = Model<typeof auth0UserJson>;
export type Auth0 = Model<typeof auth0Json>;
export type DescopeUser = Model<typeof descopeUserJson>;
export type Descope = Model<typeof descopeJson>;
export type PKCE = Model<typeof pkceJson>;
export type Problem = Model<typeof problemJson>;
export type DeviceStartRequest = Model<typeof deviceStartRequestJson>;
export type DeviceTokenRequest = Model<typeof deviceTokenRequestJson>;
/** The `device` of POST /device/code's answer. */
export type DeviceStart = Model<typeof deviceAuthorizationJson>;
export type RevokedPKCE = Model<typeof revokedPkceJson>;
export type LogoutPKCE = Model<typeof logoutPkceJson>;
export type LoggedOutPKCE = Model<typeof loggedOutPkceJson>;

export const MODEL_SCHEMA: EmbeddedModelSchema = Object.freeze({
  migration: 0,
  semantic: SEMANTIC_VERSION,
});

// An echoed request names only keys of the request: answers and requests are written side by side above.
type KeysWithin<A, B> = [keyof A] extends [keyof B] ? true : never;
true satisfies KeysWithin<SeededPKCE, SeededPKCEOut> & KeysWithin<SeededPKCEOut, SeededPKCE>;
true satisfies KeysWithin<
  NonNullable<SeededPKCEOut['ADDITIONAL_PARAMETERS']>,
  NonNullable<SeededPKCE['ADDITIONAL_PARAMETERS']>
>;
true satisfies KeysWithin<TokenizedPKCEOut, TokenizedPKCE>;
