/** The command table; each command lives in its own module and is loaded on demand. */

export interface Command {
  summary: string;
  run(argv: readonly string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'Run the broker daemon against your identity provider.',
    run: async (argv) => (await import('./serve.js')).serve(argv),
  },
  dev: {
    summary: 'Run a local OpenID provider (user demo / demo) and the broker together.',
    run: async (argv) => (await import('./dev.js')).dev(argv),
  },
  demo: {
    summary:
      'Sign in as the demo user at the bundled provider, headless, and print what came back.',
    run: async (argv) => (await import('./demo.js')).demo(argv),
  },
  login: {
    summary: 'Sign in from the terminal through a running broker (or one started here).',
    run: async (argv) => (await import('./login.js')).login(argv),
  },
};

export function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `Usage: pkce-broker <command> [options]

Commands:
${lines.join('\n')}

Run \`pkce-broker <command> --help\` for a command's options.
`;
}
