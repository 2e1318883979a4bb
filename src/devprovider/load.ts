/**
 * Loads oidc-provider without its load-time console notice.
 *
 * oidc-provider v9 prints "Unsupported runtime. Use Node.js v22.x LTS…" when
 * imported on Node 20 (it works there; it is just not supported upstream).
 * The dev provider must stay quiet, so the module is imported lazily with
 * that one message filtered out; anything else still reaches the console.
 */
type OidcProviderModule = typeof import('oidc-provider');

let loading: Promise<OidcProviderModule> | undefined;

export function loadOidcProvider(): Promise<OidcProviderModule> {
  loading ??= importQuietly();
  return loading;
}

async function importQuietly(): Promise<OidcProviderModule> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    const [first] = args;
    if (typeof first === 'string' && first.includes('oidc-provider WARNING: Unsupported runtime'))
      return;
    warn.apply(console, args);
  };
  try {
    return await import('oidc-provider');
  } finally {
    console.warn = warn;
  }
}
