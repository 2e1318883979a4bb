/**
 * Child processes of the benchmark: spawned with plain `node`, bound to
 * 127.0.0.1, tracked so that every one is stopped when the run ends, however
 * it ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BROKER_BIN = join(ROOT, 'bin', 'pkce-broker.js');

const STOP_GRACE_MS = 5_000;
const live = new Set<NodeChildProcess>();

export interface NodeChildProcess {
  process: ChildProcess;
  /** What the child wrote to stderr so far (for error messages). */
  stderr(): string;
  /** Resolves with the first stdout match of `pattern` (stdout must be piped). */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the child has exited. */
  stop(): Promise<void>;
}

/** The argv of `pkce-broker serve` against the bench's provider, without opening a browser. */
export function serveArgs(
  target: { issuer: string; clientId: string },
  port: number | string,
): string[] {
  return [
    BROKER_BIN,
    'serve',
    '--port',
    String(port),
    '--issuer',
    target.issuer,
    '--client-id',
    target.clientId,
    '--open',
    'never',
  ];
}

export interface SpawnOptions {
  stdout: 'pipe' | 'ignore';
  /** Added to (or, as undefined, removed from) this process's environment. */
  env?: Readonly<Record<string, string | undefined>>;
}

export function spawnNode(args: readonly string[], options: SpawnOptions): NodeChildProcess {
  return spawnChild(process.execPath, args, options);
}

export function spawnChild(
  command: string,
  args: readonly string[],
  options: SpawnOptions,
): NodeChildProcess {
  const child = spawn(command, args, {
    cwd: ROOT,
    stdio: ['ignore', options.stdout, 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 16_384) stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let stdout = '';
  const matchers: Array<() => void> = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    // Keep only enough to find the ready line; later output is drained and dropped.
    if (stdout.length < 65_536) stdout += chunk;
    for (const check of [...matchers]) check();
  });
  const handle: NodeChildProcess = {
    process: child,
    stderr: () => stderr,
    waitForOutput(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            done(
              new Error(
                `no ${pattern} from ${args.join(' ')} within ${timeoutMs} ms; stderr: ${stderr.trim()}`,
              ),
            ),
          timeoutMs,
        );
        const onExit = (): void =>
          done(
            new Error(
              `${args.join(' ')} exited (${child.exitCode ?? child.signalCode}) before ${pattern}; stderr: ${stderr.trim()}`,
            ),
          );
        const check = (): void => {
          const match = pattern.exec(stdout);
          if (match) done(undefined, match);
        };
        let settled = false;
        function done(error: Error | undefined, match?: RegExpMatchArray): void {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          child.off('exit', onExit);
          const at = matchers.indexOf(check);
          if (at >= 0) matchers.splice(at, 1);
          if (error) reject(error);
          else resolve(match as RegExpMatchArray);
        }
        matchers.push(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      live.delete(handle);
    },
  };
  live.add(handle);
  return handle;
}

/** Stops every child still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((child) => child.stop()));
}

/** Last resort on an abrupt exit: no child outlives the benchmark. */
export function killAllSync(): void {
  for (const child of live) child.process.kill('SIGKILL');
}

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** GETs `url` until it answers 200 (the server is still starting while the connection is refused). */
export async function waitFor200(
  url: string,
  timeoutMs: number,
  child?: NodeChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.process.exitCode !== null || child.process.signalCode !== null)) {
      throw new Error(`the server exited before ${url} answered; stderr: ${child.stderr().trim()}`);
    }
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.status === 200) return;
      throw new Error(`${url} answered ${response.status}`);
    } catch (error) {
      if (!isRefused(error) || Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function isRefused(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code === 'ECONNREFUSED';
}

/**
 * bench/baseline-server.ts as one plain ES module in a temporary directory, so
 * that the baseline is spawned as `node FILE` like the broker (no TS loader).
 */
export async function transpiledBaseline(): Promise<{ file: string; remove(): Promise<void> }> {
  const source = await readFile(join(ROOT, 'bench', 'baseline-server.ts'), 'utf8');
  const output = ts.transpileModule(source, {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
  });
  const dir = await mkdtemp(join(tmpdir(), 'pkce-broker-bench-'));
  const file = join(dir, 'baseline-server.mjs');
  await writeFile(file, output.outputText);
  return { file, remove: () => rm(dir, { recursive: true, force: true }) };
}
