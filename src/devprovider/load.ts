/**
 * Loads oidc-provider, an optional dependency: only `dev`, `demo` and the tests
 * run the bundled provider, so `serve` and `login` never load it and install
 * without it (`npm install --omit=optional`).
 *
 * oidc-provider 9 supports Node.js 22 LTS and later. On another runtime (Node
 * 20) it works, and says so once, with console.warn while it is imported:
 * "oidc-provider WARNING: Unsupported runtime…". That notice is true but is not
 * the demo's output, so it is handed to `notice` (the log, at debug) instead of
 * the terminal. Console output of anything else passes through untouched.
 */
import { BrokerError } from '../errors.js';

type OidcProviderModule = typeof import('oidc-provider');

const NOTICE_PREFIX = 'oidc-provider WARNING: ';

let loading: Promise<OidcProviderModule> | undefined;

/** `notice` receives oidc-provider's load-time warnings; only the first caller's is used. */
export function loadOidcProvider(notice: (message: string) => void): Promise<OidcProviderModule> {
  loading ??= importRedirectingNotices(notice).catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

async function importRedirectingNotices(
  notice: (message: string) => void,
): Promise<OidcProviderModule> {
  const warn = console.warn;
  // oidc-provider writes the notice with console.warn at import, from process.release, and offers
  // no option, environment variable or hook for it; faking process.release would mislead every
  // other reader of it. So console.warn is wrapped for the length of the import, and only then.
  console.warn = (...args: unknown[]) => {
    const [first] = args;
    if (typeof first === 'string' && first.includes(NOTICE_PREFIX)) {
      // Without the terminal colours oidc-provider adds on a TTY.
      notice(first.replace(/\x1b\[[0-9;]*m/g, ''));
      return;
    }
    warn.apply(console, args);
  };
  try {
    return await import('oidc-provider');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new BrokerError(
        'startup_failed',
        `The bundled provider needs the optional dependency oidc-provider, which cannot be loaded: install pkce-broker with its optional dependencies (not --omit=optional). ${(error as Error).message}`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    console.warn = warn;
  }
}
