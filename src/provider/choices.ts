/**
 * The per-provider choices an operator makes about the authorize request
 * (`--response-mode`, `--par`): their allowed values, shared by the option
 * parser (config/load.ts) and the provider client (oidc.ts).
 */

/** `auto`: form_post where the provider's discovery lists it, else query. */
export const RESPONSE_MODE_CHOICES = ['auto', 'form_post', 'query'] as const;
export type ResponseModeChoice = (typeof RESPONSE_MODE_CHOICES)[number];

/** `auto`: push (RFC 9126) where the provider advertises the endpoint; `always`: refuse to start without it. */
export const PAR_CHOICES = ['auto', 'always', 'never'] as const;
export type ParChoice = (typeof PAR_CHOICES)[number];

/**
 * `--userinfo`: `auto` fetches user info where the ID token lacks the claims
 * of a scope asked for; `always` wherever the provider has the endpoint.
 */
export const USERINFO_CHOICES = ['auto', 'always', 'never'] as const;
export type UserInfoChoice = (typeof USERINFO_CHOICES)[number];
