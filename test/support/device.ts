/**
 * For the device-flow suites: the bundled provider and a provider client that
 * counts the device token polls it sends, a broker configuration pointing at
 * it, and a device store that says when a waiter holds a handle.
 */
import { loadConfig, type BrokerConfig } from '../../src/config/load.js';
import { startDevProvider, type DevProvider } from '../../src/devprovider/provider.js';
import { discoverProvider } from '../../src/provider/oidc.js';
import type { IdentityProvider } from '../../src/provider/types.js';
import { MemoryDeviceStore } from '../../src/store/device-memory.js';

/** The bundled provider (polls every `deviceInterval` s) and a client counting the device token polls it sends. */
export async function countedProvider(deviceInterval = 2): Promise<{
  devProvider: DevProvider;
  provider: IdentityProvider;
  polls: () => number;
}> {
  const devProvider = await startDevProvider({ deviceInterval });
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

/** A device store that says when a waiter holds a handle. */
export class WatchedDeviceStore extends MemoryDeviceStore {
  readonly #claims = new Map<string, () => void>();

  claimed(handle: string): Promise<void> {
    return new Promise((resolve) => this.#claims.set(handle, resolve));
  }

  override async claimWaiter(handle: string, leaseMs: number): Promise<string | undefined> {
    const claim = await super.claimWaiter(handle, leaseMs);
    if (claim !== undefined) this.#claims.get(handle)?.();
    return claim;
  }
}
