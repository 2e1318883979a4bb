/**
 * The wire models of the PKCE API, with the exact JSON keys of the official
 * client (`@pieces.app/pieces-os-client`, dist/models/*.js). The JSON schemas
 * double as Fastify route schemas (validation, fast serialisation, OpenAPI).
 */

export const SEMANTIC_VERSION = 'MAJOR_0_MINOR_0_PATCH_1';

export interface EmbeddedModelSchema {
  migration: number;
  semantic: string;
}

export const MODEL_SCHEMA: EmbeddedModelSchema = Object.freeze({
  migration: 0,
  semantic: SEMANTIC_VERSION,
});

export interface ChallengedPKCE {
  schema?: EmbeddedModelSchema;
  state: string;
  nonce: string;
  challenge: string;
  method: 'S256';
  verifier: string;
}

export interface SeededPKCEAdditionalParameters {
  access_type?: string;
  display?: string;
}

export interface SeededPKCE {
  schema?: EmbeddedModelSchema;
  response_type?: string;
  state?: string;
  nonce?: string;
  redirect_uri?: string;
  code_challenge?: string;
  code_challenge_method?: string;
  domain?: string;
  audience?: string;
  screen_hint?: string;
  prompt?: string;
  organization?: string;
  invitation?: string;
  scope?: string[];
  client_id?: string;
  ADDITIONAL_PARAMETERS?: SeededPKCEAdditionalParameters;
  response_mode?: string;
}

export interface ResultedPKCE {
  schema?: EmbeddedModelSchema;
  code: string;
  state: string;
}

export interface TokenizedPKCE {
  schema?: EmbeddedModelSchema;
  grant_type: 'authorization_code' | 'refresh_token' | string;
  client_id?: string;
  code?: string;
  redirect_uri?: string;
  code_verifier?: string;
  audience?: string;
}

export interface OAuthToken {
  schema?: EmbeddedModelSchema;
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
}

export interface Auth0User {
  name?: string;
  picture?: string;
  email?: string;
  email_verified?: boolean;
  family_name?: string;
  given_name?: string;
  nickname?: string;
  username?: string;
  locale?: string;
  user_id?: string;
  updated_at?: string;
}

export interface Auth0 {
  domain: string;
  client: string;
  audience: string;
  redirects: { authenticated?: string; unauthenticated?: string };
  oAuth: { token?: OAuthToken };
  user?: Auth0User;
  namespace?: string;
}

export interface PKCE {
  schema: EmbeddedModelSchema;
  result?: ResultedPKCE;
  challenge?: ChallengedPKCE;
  seed?: SeededPKCE;
  token?: TokenizedPKCE;
  auth0?: Auth0;
}

// ---- JSON schemas -------------------------------------------------------

const str = { type: 'string' } as const;
/** Bounded strings keep hostile bodies cheap to reject. */
const shortStr = { type: 'string', maxLength: 2048 } as const;

export const embeddedModelSchemaJson = {
  $id: 'EmbeddedModelSchema',
  type: 'object',
  properties: {
    migration: { type: 'integer' },
    semantic: str,
  },
  required: ['migration', 'semantic'],
} as const;

export const challengedPkceJson = {
  $id: 'ChallengedPKCE',
  type: 'object',
  properties: {
    schema: { $ref: 'EmbeddedModelSchema#' },
    state: str,
    nonce: str,
    challenge: str,
    method: str,
    verifier: str,
  },
  required: ['state', 'nonce', 'challenge', 'method', 'verifier'],
} as const;

export const seededPkceJson = {
  $id: 'SeededPKCE',
  type: 'object',
  additionalProperties: false,
  properties: {
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
      properties: { access_type: str, display: str },
    },
    response_mode: str,
  },
} as const;

export const resultedPkceJson = {
  $id: 'ResultedPKCE',
  type: 'object',
  properties: { schema: { $ref: 'EmbeddedModelSchema#' }, code: str, state: str },
  required: ['code', 'state'],
} as const;

export const tokenizedPkceJson = {
  $id: 'TokenizedPKCE',
  type: 'object',
  additionalProperties: false,
  properties: {
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

export const tokenizedPkceOutJson = {
  $id: 'TokenizedPKCEOut',
  type: 'object',
  properties: {
    schema: { $ref: 'EmbeddedModelSchema#' },
    grant_type: str,
    client_id: str,
    redirect_uri: str,
    audience: str,
  },
} as const;

export const oauthTokenJson = {
  $id: 'OAuthToken',
  type: 'object',
  properties: {
    schema: { $ref: 'EmbeddedModelSchema#' },
    access_token: str,
    token_type: str,
    expires_in: { type: 'number' },
    scope: str,
    refresh_token: str,
    id_token: str,
  },
  required: ['access_token', 'token_type', 'expires_in'],
} as const;

export const auth0Json = {
  $id: 'Auth0',
  type: 'object',
  properties: {
    domain: str,
    client: str,
    audience: str,
    redirects: {
      type: 'object',
      properties: { authenticated: str, unauthenticated: str },
    },
    oAuth: {
      type: 'object',
      properties: { token: { $ref: 'OAuthToken#' } },
    },
    user: {
      type: 'object',
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
    },
    namespace: str,
  },
  required: ['domain', 'client', 'audience', 'redirects', 'oAuth'],
} as const;

export const pkceJson = {
  $id: 'PKCE',
  type: 'object',
  properties: {
    schema: { $ref: 'EmbeddedModelSchema#' },
    result: { $ref: 'ResultedPKCE#' },
    challenge: { $ref: 'ChallengedPKCE#' },
    seed: { $ref: 'SeededPKCEOut#' },
    token: { $ref: 'TokenizedPKCEOut#' },
    auth0: { $ref: 'Auth0#' },
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
  pkceJson,
  problemJson,
] as const;
