/**
 * Which response_mode the broker asks a provider for (pure). A strict
 * provider answers a mode it does not list with unsupported_response_mode,
 * so the default comes from its discovery document, not from habit.
 */
import type { ResponseModeChoice } from './choices.js';

/** The modes a code flow may use here: the answer comes as a form or in the query (fragment never reaches a server). */
export type ResponseMode = 'form_post' | 'query';

export interface ResponseModes {
  /** What a flow asks for unless its seed says otherwise. */
  readonly default: ResponseMode;
  /** `response_modes_supported` as discovered, or its default. */
  readonly supported: readonly string[];
}

/** OIDC Discovery §3: an absent `response_modes_supported` means these. */
const DISCOVERY_DEFAULT_MODES = ['query', 'fragment'] as const;

/**
 * The provider's modes and the default for `choice`. `warning` is set where
 * the operator forces form_post on a provider that does not list it: some
 * support it without saying so, so it is allowed, and said once at start.
 */
export function responseModesOf(
  metadata: { response_modes_supported?: unknown },
  choice: ResponseModeChoice,
  issuer: string,
): { modes: ResponseModes; warning?: string } {
  const listed = metadata.response_modes_supported;
  const supported = Array.isArray(listed)
    ? listed.filter((mode): mode is string => typeof mode === 'string')
    : [...DISCOVERY_DEFAULT_MODES];
  const advertisesFormPost = supported.includes('form_post');
  const mode: ResponseMode =
    choice === 'auto' ? (advertisesFormPost ? 'form_post' : 'query') : choice;
  const modes: ResponseModes = Object.freeze({
    default: mode,
    // A forced mode counts as supported: the operator vouches for it.
    supported: Object.freeze(supported.includes(mode) ? supported : [...supported, mode]),
  });
  if (choice === 'form_post' && !advertisesFormPost) {
    return {
      modes,
      warning: `--response-mode form_post: the identity provider at ${issuer} does not list form_post in response_modes_supported; it is used anyway`,
    };
  }
  return { modes };
}
