/**
 * The package as a new user gets it: `npm pack` of a clean copy of the tree
 * (no dist/: prepack must build it), the tarball installed into an empty
 * directory with npm (dependencies from npm's cache, as `npm ci` left it),
 * then the installed program and the library used from there — `pkce-broker
 * demo`, `npx pkce-broker --version`, and examples/embed.mjs importing
 * `pkce-broker` for one sign-in against the bundled provider, which this test
 * runs and whose login pages it drives (the example's opener prints the URL).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDevProvider, type DevProvider } from '../src/devprovider/provider.js';
import { scriptedLogin } from '../src/devprovider/login.js';
import { ROOT } from './support/cli.js';

/** Packing builds (esbuild and tsc), installing unpacks ~150 packages: generous on a busy machine. */
const STEP_TIMEOUT_MS = 180_000;
/** What a clean clone holds that the build reads; the rest (dist, coverage, node_modules…) stays behind. */
const LEFT_BEHIND = new Set(['node_modules', 'dist', 'coverage', 'test-output', 'scratch', '.git']);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Running {
  /** Resolves with the first match of `pattern` on stdout; rejects if the process ends first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<Run>;
}

/** XDG_CACHE_HOME of the children: the installed program's compiled code goes there, not into the user's. */
let cacheHome = '';

/** A child with a clean environment: no PKCE_BROKER_*, no coverage of code outside this tree. */
function start(command: string, args: readonly string[], cwd: string): Running {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_V8_COVERAGE: '',
    ...(cacheHome && { XDG_CACHE_HOME: cacheHome }),
  };
  delete env.NODE_DISABLE_COMPILE_CACHE;
  for (const name of Object.keys(env)) if (name.startsWith('PKCE_BROKER_')) delete env[name];
  delete env.BROWSER;
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  for (const name of ['stdout', 'stderr'] as const) {
    child[name].setEncoding('utf8').on('data', (chunk: string) => {
      out[name] += chunk;
      for (const listener of [...listeners]) listener();
    });
  }
  const watchdog = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
  const exited = new Promise<Run>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(watchdog);
      resolve({ code, ...out });
      for (const listener of [...listeners]) listener();
    });
  });
  return {
    exited,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = out.stdout.match(pattern);
          if (match) {
            listeners.delete(check);
            resolve(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            listeners.delete(check);
            reject(
              new Error(`${command} ${args.join(' ')} ended before ${pattern}: ${out.stderr}`),
            );
          }
        };
        listeners.add(check);
        check();
      });
    },
  };
}

async function run(command: string, args: readonly string[], cwd: string): Promise<Run> {
  const result = await start(command, args, cwd).exited;
  assert.equal(
    result.code,
    0,
    `${command} ${args.join(' ')} exited ${result.code}:\n${result.stderr}\n${result.stdout}`,
  );
  return result;
}

const npm = (args: readonly string[], cwd: string): Promise<Run> =>
  run('npm', ['--loglevel=error', ...args], cwd);

describe('the packed package, installed into an empty directory', { timeout: 600_000 }, () => {
  let work = '';
  let files: string[] = [];
  let app = '';
  let installed = '';
  let tarball = '';

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pkce-broker-package-'));
    cacheHome = join(work, 'cache');
    // A clean clone: the tree without dist/, sharing this checkout's node_modules (the build's tools).
    const clone = join(work, 'clone');
    await cp(ROOT, clone, {
      recursive: true,
      filter: (source) => !LEFT_BEHIND.has(relative(ROOT, source).split(/[\\/]/)[0] ?? ''),
    });
    await symlink(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
    const packed = await npm(['pack', '--json', '--pack-destination', work], clone);
    const [info] = JSON.parse(packed.stdout) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    assert.ok(info, packed.stdout);
    files = info.files.map((file) => file.path);

    tarball = join(work, info.filename);
    app = join(work, 'app');
    await cp(join(ROOT, 'examples'), app, { recursive: true });
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'embedding-app', private: true, type: 'module' }),
    );
    await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app);
    installed = join(app, 'node_modules', 'pkce-broker');
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('ships the program and the library, built by prepack, and no tests, benchmarks or sources', () => {
    for (const path of [
      'bin/pkce-broker.js',
      'dist/cli/start.js',
      'dist/cli/main.js',
      'dist/cli/main.cjs',
      'dist/index.js',
      'dist/index.d.ts',
      'package.json',
      'README.md',
    ])
      assert.ok(files.includes(path), `${path} is in the package: ${files.join(', ')}`);
    const stray = files.filter(
      (path) =>
        /^(test|bench|src|scripts|examples|coverage)\//.test(path) ||
        (path.endsWith('.ts') && !path.endsWith('.d.ts')),
    );
    assert.deepEqual(stray, []);
  });

  it('exports only the library entry point', async () => {
    const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    assert.deepEqual(Object.keys(pkg.exports), ['.', './package.json']);
    const refused = await start(
      process.execPath,
      ['--input-type=module', '-e', "await import('pkce-broker/dist/broker.js')"],
      app,
    ).exited;
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
    const api = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('pkce-broker'); console.log(JSON.stringify(Object.keys(m).sort()))",
      ],
      app,
    );
    assert.deepEqual(JSON.parse(api.stdout), [
      'BrokerError',
      'ERROR_STATUS',
      'STARTUP_EXIT_CODE',
      'isBrokerError',
      'loadConfig',
      'startBroker',
    ]);
  });

  it("types the library for a TypeScript user, without the tree's devDependencies", async () => {
    await writeFile(
      join(app, 'consumer.ts'),
      `import { BrokerError, loadConfig, startBroker, type BrokerErrorCode, type PKCE, type RunningBroker, type SeededPKCE } from 'pkce-broker';
const { config } = loadConfig({ argv: ['--port', '0'] });
const broker: RunningBroker = await startBroker({ config, openAuthorizeUrl: (url: URL) => void url.href });
const code: BrokerErrorCode = new BrokerError('invalid_request', 'x').code;
const answer = {} as PKCE;
const token: string | undefined = answer.auth0?.oAuth.token?.access_token;
const seed: SeededPKCE = { scope: ['openid'] };
// @ts-expect-error the wire models are real types, not any: no such key
const wrong: SeededPKCE = { scopes: ['openid'] };
// @ts-expect-error the codes are a union of literals
const unknownCode: BrokerErrorCode = 'no_such_code';
export { broker, code, token, seed, wrong, unknownCode };
`,
    );
    // @types/node is the user's own; the rest resolves from what the install brought.
    await run(
      process.execPath,
      [
        join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        '--noEmit',
        '--strict',
        '--target',
        'es2022',
        '--module',
        'nodenext',
        '--typeRoots',
        join(ROOT, 'node_modules', '@types'),
        '--types',
        'node',
        'consumer.ts',
      ],
      app,
    );
  });

  it('runs `npx pkce-broker --version`, a global install, and the installed `pkce-broker demo`', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const shown = await run('npx', ['--no-install', 'pkce-broker', '--version'], app);
    assert.equal(shown.stdout.trim(), version);
    // npm install -g, into a prefix of the test's own rather than the machine's.
    const prefix = join(work, 'global');
    await npm(
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        tarball,
      ],
      work,
    );
    const global = await run(join(prefix, 'bin', 'pkce-broker'), ['serve', '--version'], work);
    assert.equal(global.stdout.trim(), version);
    const demo = await run(join(app, 'node_modules', '.bin', 'pkce-broker'), ['demo'], app);
    assert.match(demo.stdout, /signing in as demo/);
    assert.match(demo.stdout, /Bearer/);
    assert.equal(
      demo.stderr,
      '',
      'nothing on stderr: no warning from Node about how it was loaded',
    );
  });

  it("keeps the program's compiled code between runs in the user's cache directory", async () => {
    const compiled = join(cacheHome, 'pkce-broker', 'v8');
    const bin = join(app, 'node_modules', '.bin', 'pkce-broker');
    await run(bin, ['--help'], app);
    const again = await run(bin, ['--help'], app);
    assert.match(again.stdout, /serve/);
    if ('enableCompileCache' in module) {
      // Node 22.1+: Node's own cache, of the ES modules of dist/.
      assert.ok((await readdir(compiled, { recursive: true })).length > 0);
    } else {
      // Node 20: one cache per command, of the one-file build (src/cli/code-cache.ts).
      const names = await readdir(join(compiled, 'script'));
      assert.ok(
        names.some((name) => name.endsWith('@--help.bin')),
        names.join(', '),
      );
      assert.ok(
        names.some((name) => name.endsWith('@demo.bin')),
        names.join(', '),
      );
    }
  });

  describe('embedded: examples/embed.mjs against the bundled provider', () => {
    let devProvider: DevProvider;
    before(async () => {
      devProvider = await startDevProvider({});
    });
    after(async () => {
      await devProvider?.close();
    });

    it('starts the broker in-process on a free port, signs in through its own opener, and closes', async () => {
      // Without PAR the provider reads the redirect URI when the login starts, so this test can
      // register the example's callback (its port is known only once it listens) in between.
      const example = start(
        process.execPath,
        [
          'embed.mjs',
          '--issuer',
          devProvider.issuer,
          '--client-id',
          devProvider.clientId,
          '--par',
          'never',
        ],
        app,
      );
      const [, port] = await example.waitFor(/broker at http:\/\/127\.0\.0\.1:(\d+), callback /);
      assert.notEqual(port, '1000');
      const [, href] = await example.waitFor(/^Sign in at: (\S+)$/m);
      const url = new URL(href!);
      devProvider.setRedirectUris([url.searchParams.get('redirect_uri') ?? '']);
      const { callbackResponse } = await scriptedLogin(url, { accept: 'application/json' });
      assert.equal(callbackResponse.status, 200);
      await callbackResponse.body?.cancel();
      const result = await example.exited;
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        /signed in: Bearer access token, expires in \d+ s, with an ID token/,
      );
      // close() let the process end by itself: nothing left listening on the port.
      await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
    });
  });
});
