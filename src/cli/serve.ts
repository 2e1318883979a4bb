/** `pkce-broker serve`: the daemon. */
import type { RunningBroker } from '../broker.js';
import type { CommandModule } from './commands.js';

export const command: CommandModule = {
  help: 'Usage: pkce-broker serve --issuer URL --client-id ID [options]\n\nRun the broker daemon.\n\nOptions:\n',
  async run({ config }) {
    // Loaded here, not at the top: `serve --help` needs no HTTP server.
    const { startBroker } = await import('../broker.js');
    // The command line keeps discovery documents unless told not to (--no-discovery-cache).
    const broker = await startBroker({ config, discoveryCache: config.discoveryCache ?? true });
    process.stdout.write(
      `pkce-broker listening on ${broker.url} — callback ${broker.redirectUri}\n`,
    );
    // One line per provider: a down one is retried in the background (registry.ts).
    for (const provider of broker.providers.list())
      process.stdout.write(
        `  provider ${provider.id} (${provider.kind}) ${provider.issuer}: ${provider.state}${provider.detail === undefined ? '' : ` — ${provider.detail}`}\n`,
      );
    return waitForShutdown(broker);
  },
};

/** Resolves with exit code 0 once SIGINT or SIGTERM has closed the broker. */
export function waitForShutdown(...running: Array<{ close(): Promise<void> }>): Promise<number> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void Promise.allSettled(running.map((r) => r.close())).then(() => resolve(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export type { RunningBroker };
