/**
 * The command line: parse once, dispatch, and one top-level catch that prints
 * one line a person can act on (no stack trace) and sets the exit code.
 */
import { parseArguments } from '../config/args.js';
import { loadConfig } from '../config/load.js';
import { SERVE_OPTIONS } from '../config/options.js';
import { STARTUP_EXIT_CODE, isBrokerError, isStartupErrorCode } from '../errors.js';
import { COMMANDS, usage } from './commands.js';
import { optionsHelp } from './help.js';

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS[name];
  if (!command && !name.startsWith('-')) {
    process.stderr.write(
      `pkce-broker: unknown command "${name}". Run \`pkce-broker --help\` for the commands.\n`,
    );
    return 2;
  }
  try {
    if (!command) {
      // Before any command only --help and --version mean something.
      const args = parseArguments(argv, []);
      if (args.version) process.stdout.write(`${await version()}\n`);
      else process.stdout.write(usage());
      return 0;
    }
    const module = await command.load();
    const subcommand = module.subcommands?.find((word) => word === rest[0]);
    const args = parseArguments(subcommand === undefined ? rest : rest.slice(1), [
      ...SERVE_OPTIONS,
      ...(module.options ?? []),
    ]);
    if (args.help) {
      process.stdout.write(`${module.help}${optionsHelp(module.options)}`);
      return 0;
    }
    if (args.version) {
      process.stdout.write(`${await version()}\n`);
      return 0;
    }
    return await module.run(
      loadConfig({
        argv: args,
        env: process.env,
        ...(module.options !== undefined && { extraOptions: module.options }),
      }),
      subcommand,
    );
  } catch (error) {
    process.stderr.write(`pkce-broker${command ? ` ${name}` : ''}: ${describe(error)}\n`);
    if (process.env.PKCE_BROKER_DEBUG) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    return exitCode(error);
  }
}

/** 2 for a configuration mistake, 1 for every other failure (STARTUP_EXIT_CODE). */
function exitCode(error: unknown): number {
  if (isBrokerError(error) && isStartupErrorCode(error.code)) return STARTUP_EXIT_CODE[error.code];
  return 1;
}

function describe(error: unknown): string {
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
