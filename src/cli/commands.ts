/**
 * The command table. Each command lives in its own module, loaded on demand,
 * which says what --help shows and which options it takes beyond serve's;
 * main.ts parses the command line once against them and hands the result over.
 */
import type { LoadedConfig } from '../config/load.js';
import type { OptionSpec } from '../config/options.js';

export interface CommandModule {
  /** --help before the generated option list: the usage line, what the command does, the heading of the list. */
  readonly help: string;
  /** Options beyond SERVE_OPTIONS, parsed, resolved and listed like them. */
  readonly options?: readonly OptionSpec[];
  /** Words that may follow the command (`service install`); run() gets the one given. */
  readonly subcommands?: readonly string[];
  run(loaded: LoadedConfig, subcommand?: string): Promise<number>;
}

export interface Command {
  summary: string;
  load(): Promise<CommandModule>;
}

export const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'Run the broker daemon against your identity provider.',
    load: async () => (await import('./serve.js')).command,
  },
  dev: {
    summary: 'Run a local OpenID provider (user demo / demo) and the broker together.',
    load: async () => (await import('./dev.js')).command,
  },
  demo: {
    summary:
      'Sign in as the demo user at the bundled provider, headless, and print what came back.',
    load: async () => (await import('./demo.js')).command,
  },
  login: {
    summary: 'Sign in from the terminal through a running broker (or one started here).',
    load: async () => (await import('./login.js')).command,
  },
  doctor: {
    summary: 'Check your identity provider the way the broker will use it, and say what to fix.',
    load: async () => (await import('./doctor.js')).command,
  },
  service: {
    summary: 'Install, remove or inspect the broker as a user service (systemd, launchd).',
    load: async () => (await import('./service.js')).command,
  },
  token: {
    summary: 'Print a valid access token of the saved session (renewed when it runs out).',
    load: async () => (await import('./token.js')).command,
  },
  status: {
    summary: 'List the saved sessions: provider, account, scopes, expiry (never a token).',
    load: async () => (await import('./status.js')).command,
  },
  logout: {
    summary:
      "Revoke a saved session at the provider, forget it, and give the provider's sign-out URL.",
    load: async () => (await import('./logout.js')).command,
  },
};

export function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `Usage: pkce-broker <command> [options]

Commands:
${lines.join('\n')}

Run \`pkce-broker <command> --help\` for a command's options, \`pkce-broker --version\` for the version.
`;
}
