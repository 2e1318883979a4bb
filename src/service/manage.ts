/**
 * install / uninstall / status of the user service: the file, and the service
 * manager's commands, run where it answers, printed where it does not (a
 * container, an SSH session without a user bus). Side effects come in as
 * functions so tests run it into a temporary home.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { shellLine, type Command, type ServiceTarget } from './platform.js';
import type { ServiceSpec } from './unit.js';

export interface RunResult {
  readonly code: number;
  readonly output: string;
}

export interface ManageDeps {
  readonly target: ServiceTarget;
  /** Runs a command without a shell. */
  run(command: Command): Promise<RunResult>;
  /** One line for the person. */
  say(line: string): void;
}

export interface InstallOptions {
  readonly spec: ServiceSpec;
  /** Write the file only, print the commands. */
  readonly noStart: boolean;
  /** Replace a file that differs from the one this install would write. */
  readonly force: boolean;
}

/** 0 done, 1 refused or a command failed. */
export async function install(deps: ManageDeps, options: InstallOptions): Promise<number> {
  const { target, say } = deps;
  const content = target.render(options.spec);
  const existing = await readIfExists(target.path);
  if (existing !== undefined && existing !== content && !options.force) {
    say(
      `${target.path} exists and differs from the service this would write (another config file or pkce-broker?); not touched. Run \`pkce-broker service status\` to see it, or add --force to replace it.`,
    );
    return 1;
  }
  if (existing === content) say(`${target.path} is up to date.`);
  else {
    await mkdir(dirname(target.path), { recursive: true });
    await writeFile(target.path, content, { mode: 0o644 });
    say(
      `${existing === undefined ? 'Wrote' : 'Replaced'} ${target.path}: runs ${options.spec.bin} serve --config ${options.spec.config}`,
    );
  }
  return runOrPrint(deps, target.start, options.noStart, 'to start it now and at every login');
}

export async function uninstall(deps: ManageDeps, noStart: boolean): Promise<number> {
  const { target, say } = deps;
  if ((await readIfExists(target.path)) === undefined) {
    say(`No service installed: ${target.path} does not exist.`);
    return 0;
  }
  // Stopped first: a removed file leaves a running service no manager can name. A stop that
  // fails (launchd says so of an agent that is not loaded) is said, and the file goes anyway.
  await runOrPrint(deps, target.stop, noStart, 'to stop it');
  await rm(target.path, { force: true });
  say(`Removed ${target.path}.`);
  return runOrPrint(deps, target.afterRemove, noStart, 'to forget it');
}

/** 0 installed as this install would write it, 1 installed differently, 3 not installed (as `systemctl status`). */
export async function status(deps: ManageDeps, spec: ServiceSpec): Promise<number> {
  const { target, say } = deps;
  const existing = await readIfExists(target.path);
  if (existing === undefined) {
    say(
      `Not installed (${target.path} does not exist). Install it with \`pkce-broker service install --config FILE\`.`,
    );
    return 3;
  }
  const current = existing === target.render(spec);
  say(
    current
      ? `Installed: ${target.path} runs serve --config ${spec.config}.`
      : `Installed: ${target.path}, but not as \`service install\` would write it now (another config file, node or pkce-broker): run install --force to update it.`,
  );
  if ((await deps.run(target.probe)).code !== 0) {
    say(`The service manager does not answer here; check with: ${shellLine(target.status)}`);
  } else {
    const { output } = await deps.run(target.status);
    say(output.trimEnd());
  }
  return current ? 0 : 1;
}

/** Runs the commands in order where the manager answers (stopping at a failure), else prints them. */
async function runOrPrint(
  deps: ManageDeps,
  commands: readonly Command[],
  noStart: boolean,
  purpose: string,
): Promise<number> {
  if (commands.length === 0) return 0;
  const line = commands.map(shellLine).join(' && ');
  if (noStart) {
    deps.say(`Not run (--no-start); ${purpose}: ${line}`);
    return 0;
  }
  if ((await deps.run(deps.target.probe)).code !== 0) {
    deps.say(
      `The service manager does not answer here (no user session?); ${purpose}, run: ${line}`,
    );
    return 0;
  }
  for (const command of commands) {
    const { code, output } = await deps.run(command);
    if (code !== 0) {
      deps.say(`${shellLine(command)} failed (exit ${code}): ${output.trim()}`);
      return 1;
    }
    deps.say(`Ran: ${shellLine(command)}`);
  }
  return 0;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
