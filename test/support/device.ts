/**
 * For the device-flow suites: the bundled provider with a poll interval of 2 s
 * and a provider client that counts the device token polls it sends, and a
 * broker configuration pointing at it.
 */
import { loadConfig, type BrokerConfig } from '../../src/config/load.js';
import { startDevProvider, type DevProvider } from '../../src/devprovider/provider.js';
import { discoverProvider } from '../../src/provider/oidc.js';
import type { IdentityProvider } from '../../src/provider/types.js';

export async function countedProvider(): Promise<{
  devProvider: DevProvider;
  provider: IdentityProvider;
  polls: () => number;
}> {
  const devProvider = await startDevProvider({ deviceInterval: 2 });
  let polls = 0;
  const countingFetch: typeof fetch = async (input, init) => {
    const body = init?.body;
    if (typeof body === 'string' || body instanceof URLSearchParams) {
      if (new URLSearchParams(String(body)).get('grant_type')?.endsWith(':device_code')) polls += 1;
    }
    return fetch(input, init);
  };
  const provider = await discoverProvider({
    issuer: devProvider.issuer,
    clientId: devProvider.clientId,
    fetch: countingFetch,
    par: 'never',
  });
  return { devProvider, provider, polls: () => polls };
}

export function configFor(
  devProvider: DevProvider,
  extra: Partial<BrokerConfig> = {},
): BrokerConfig {
  return {
    ...loadConfig({ argv: ['--port', '0'], env: {}, readFile: () => undefined }).config,
    issuer: devProvider.issuer,
    clientId: devProvider.clientId,
    ...extra,
  };
}
