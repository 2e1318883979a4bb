/**
 * The command line: parse, dispatch, and one top-level catch that prints one
 * line a person can act on (no stack trace) and sets the exit code.
 */
import { isBrokerError } from '../errors.js';
import { COMMANDS, usage } from './commands.js';

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 1 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${await version()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(
      `pkce-broker: unknown command "${name}". Run \`pkce-broker --help\` for the commands.\n`,
    );
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    process.stderr.write(`pkce-broker ${name}: ${describe(error)}\n`);
    if (process.env.PKCE_BROKER_DEBUG) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    return isBrokerError(error) && error.code === 'config_invalid' ? 2 : 1;
  }
}

function describe(error: unknown): string {
  if (isBrokerError(error)) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(
    await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
  ) as { version: string };
  return pkg.version;
}
