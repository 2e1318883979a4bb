/**
 * Runs the real command line, `node bin/pkce-broker.js …`, as a child process:
 * what a person runs, exit codes and stderr included. It runs the built dist/
 * (`npm test` builds first; after editing src, run `npm run build` before a
 * single suite). Each run gets a clean environment (no PKCE_BROKER_*, no
 * BROWSER, no SSH or display variables: login's choice of path reads them)
 * and an empty working directory, so no config file leaks in. With `pty`, the
 * command runs in a pseudo-terminal (util-linux `script`), stdout and stderr
 * both come out as the terminal's output on `stdout`, and `write` types.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'pkce-broker.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  /** Types into the command's stdin (with `pty`, its terminal: Enter is "\r", Ctrl-C "\x03"). */
  write(text: string): void;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in that stream; rejects if the process exits first. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<CliResult>;
}

export interface CliOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Command words before `node`, e.g. ['setpriv', '--reuid=nobody', …]. */
  prefix?: string[];
  /** Killed (SIGKILL) after this long, so a command that should have ended fails the test instead of hanging it. Default 60 s. */
  timeoutMs?: number;
  /** Run in a pseudo-terminal: `script -qfec CMD /dev/null`. */
  pty?: boolean;
}

/** Variables that tell login whether a browser can open here; a test sets the ones it means. */
const SURROUNDINGS = [
  'SSH_CONNECTION',
  'SSH_CLIENT',
  'SSH_TTY',
  'DISPLAY',
  'WAYLAND_DISPLAY',
  'WSL_DISTRO_NAME',
];

/** One word for `sh -c`. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

let configHome: string | undefined;
function testConfigHome(): string {
  configHome ??= mkdtempSync(join(tmpdir(), 'pkce-broker-config-'));
  return configHome;
}

let cacheHome: string | undefined;
function testCacheHome(): string {
  cacheHome ??= mkdtempSync(join(tmpdir(), 'pkce-broker-cache-'));
  return cacheHome;
}

function cleanEnv(extra: Record<string, string> = {}, otherUser = false): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('PKCE_BROKER_') || name === 'BROWSER' || SURROUNDINGS.includes(name))
      continue;
    env[name] = value;
  }
  // A child run as another user cannot write our coverage directory, and says so on stderr. Node
  // hands NODE_V8_COVERAGE on to children whose env lacks it: only an empty value turns it off.
  if (otherUser && env.NODE_V8_COVERAGE !== undefined) env.NODE_V8_COVERAGE = '';
  // login saves the session: into a directory of this test run's, never the user's own
  // configuration or keychain (a test that means the keychain gives its own bus).
  env.XDG_CONFIG_HOME = testConfigHome();
  // Nor the user's cache directory (compiled code, discovery documents).
  env.XDG_CACHE_HOME = testCacheHome();
  // Ports are reused within a run: a document kept for one test's provider at 127.0.0.1:PORT
  // would be another's start. Tests of the cache turn it back on (an empty value: the default).
  env.PKCE_BROKER_DISCOVERY_CACHE = 'false';
  delete env.DBUS_SESSION_BUS_ADDRESS;
  return { ...env, ...extra };
}

export function emptyDir(): string {
  return mkdtempSync(join(tmpdir(), 'pkce-broker-cli-'));
}

export function startCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error(
      'dist/ is missing: run `npm run build` (npm test does it) before the CLI suites.',
    );
  }
  let [file, ...prefixArgs] = [...(options.prefix ?? []), process.execPath, BIN, ...args];
  if (options.pty === true) {
    prefixArgs = ['-qfec', [file!, ...prefixArgs].map(shellQuote).join(' '), '/dev/null'];
    file = 'script';
  }
  const env = cleanEnv(options.env, options.prefix !== undefined);
  const child = spawn(file!, prefixArgs, {
    cwd: options.cwd ?? emptyDir(),
    env: options.pty === true ? { ...env, SHELL: '/bin/sh' } : env,
    stdio: [options.pty === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  for (const name of ['stdout', 'stderr'] as const) {
    child[name]!.setEncoding('utf8');
    child[name]!.on('data', (chunk: string) => {
      out[name] += chunk;
      for (const listener of [...listeners]) listener();
    });
  }
  const watchdog = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  watchdog.unref();
  const exited = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(watchdog);
      resolve({ code, signal, ...out });
      for (const listener of [...listeners]) listener();
    });
  });
  return {
    child,
    write(text) {
      child.stdin?.write(text);
    },
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    exited,
    waitFor(stream, pattern) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = out[stream].match(pattern);
          if (match) {
            listeners.delete(check);
            resolve(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            listeners.delete(check);
            reject(
              new Error(
                `exited (${child.exitCode ?? child.signalCode}) before ${pattern} on ${stream}; stderr: ${out.stderr}`,
              ),
            );
          }
        };
        listeners.add(check);
        check();
      });
    },
  };
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).exited;
}
