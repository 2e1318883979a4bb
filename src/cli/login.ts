/**
 * `pkce-broker login`: a whole sign-in from a terminal, through the broker's
 * own HTTP API — against a running broker (--broker) or one started here from
 * the same options as `serve`. `signIn` is also what `demo` drives.
 */
import { open } from 'node:fs/promises';
import { createBrowserOpener } from '../browser/open.js';
import { startBroker, type RunningBroker } from '../broker.js';
import { loadConfig, requireProvider } from '../config/load.js';
import { envName, type OptionSpec } from '../config/options.js';
import { BrokerError, ERROR_STATUS, type BrokerErrorCode } from '../errors.js';
import { createLogger } from '../logging.js';
import type { PKCE } from '../protocol/models.js';
import { optionsHelp } from './help.js';
import { formatSummary } from './summary.js';

export const DEFAULT_BROKER = 'http://localhost:1000';

export const LOGIN_OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'broker',
    kind: 'string',
    meta: 'URL',
    defaultText: DEFAULT_BROKER,
    description:
      'The running broker to sign in through (not with --issuer/--auth0-domain, which start one here).',
  },
  {
    flag: 'json',
    kind: 'boolean',
    description: 'Print the PKCE token answer as JSON (tokens in full) instead of the summary.',
  },
  {
    flag: 'output',
    kind: 'string',
    meta: 'FILE',
    description: 'Also write the PKCE token answer to FILE, readable only by you (mode 0600).',
  },
];

const WAITING = 'Waiting for you to finish in the browser… (Ctrl-C to cancel)';
/** Requests that do not wait for a person. The token request includes a provider round trip. */
const CALL_TIMEOUT_MS = 30_000;
/** How long the in-flight POST /pkce/code may take to register its flow before we give up on showing the URL. */
const AUTHORIZE_URL_DEADLINE_MS = 10_000;

export interface SignInOptions {
  /** Base URL of the broker, e.g. http://127.0.0.1:1000 */
  broker: string;
  /** Sent as X-Application-ID when the broker has an allow-list. */
  appId?: string;
  /** Aborting cancels the sign-in; the broker sees the disconnect and forgets the flow. */
  signal?: AbortSignal;
  /**
   * Called once the broker has built the provider URL. A person is shown it;
   * `demo` drives a scripted browser through it. A rejection cancels the sign-in.
   */
  onAuthorizeUrl(url: URL, signal: AbortSignal): void | Promise<void>;
}

function reasonOf(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string')
    return cause.code === 'ECONNREFUSED' ? 'connection refused' : cause.code;
  return error instanceof Error ? error.message : String(error);
}

/** A BrokerError from a problem+json answer, keeping the broker's own code and words. */
async function problemError(response: Response, what: string): Promise<BrokerError> {
  let problem: { code?: unknown; detail?: unknown; error?: unknown } = {};
  try {
    problem = (await response.json()) as typeof problem;
  } catch {
    // Not a problem document: the status alone must do.
  }
  const code =
    typeof problem.code === 'string' && problem.code in ERROR_STATUS
      ? (problem.code as BrokerErrorCode)
      : 'internal';
  const detail = typeof problem.detail === 'string' ? problem.detail : `HTTP ${response.status}`;
  return new BrokerError(code, `${what} failed: ${detail}`, {
    ...(typeof problem.error === 'string' && { oauthError: problem.error }),
  });
}

class BrokerClient {
  readonly #base: string;
  readonly #headers: Record<string, string>;

  constructor(base: string, appId: string | undefined) {
    this.#base = base.replace(/\/+$/, '');
    this.#headers = {
      accept: 'application/json',
      ...(appId !== undefined && { 'x-application-id': appId }),
    };
  }

  async send(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<Response> {
    try {
      return await fetch(`${this.#base}${path}`, {
        method,
        headers:
          body === undefined
            ? this.#headers
            : { ...this.#headers, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal,
      });
    } catch (error) {
      if (signal.aborted) {
        const reason: unknown = signal.reason;
        if (reason instanceof DOMException && reason.name === 'TimeoutError') {
          throw new BrokerError(
            'startup_failed',
            `The broker at ${this.#base} did not answer ${method} ${path.split('?')[0]} within ${CALL_TIMEOUT_MS / 1000} s.`,
          );
        }
        throw reason ?? error;
      }
      throw new BrokerError(
        'startup_failed',
        `Cannot reach the broker at ${this.#base} (${reasonOf(error)}): start one with \`pkce-broker serve\` or \`pkce-broker dev\`, or point --broker at yours.`,
        { cause: error },
      );
    }
  }

  async json<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<T> {
    const response = await this.send(method, path, body, signal);
    if (!response.ok) throw await problemError(response, `${method} ${path.split('?')[0]}`);
    return (await response.json()) as T;
  }
}

function withTimeout(signal: AbortSignal): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]);
}

/**
 * Asks the broker for the provider URL of the flow that the in-flight POST
 * /pkce/code is starting. That request registers the flow concurrently, so a
 * 404 at first means "not yet": retried with a short backoff, and given up as
 * soon as the code request itself ends. Undefined: it ended first.
 */
async function authorizeUrlOf(
  client: BrokerClient,
  state: string,
  codeEnded: Promise<void>,
  signal: AbortSignal,
): Promise<URL | undefined> {
  const path = `/pkce/authorize-url?state=${encodeURIComponent(state)}`;
  const deadline = Date.now() + AUTHORIZE_URL_DEADLINE_MS;
  let ended = false;
  void codeEnded.then(() => {
    ended = true;
  });
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    const response = await client.send('GET', path, undefined, withTimeout(signal));
    if (response.ok)
      return new URL(((await response.json()) as { authorize_url: string }).authorize_url);
    if (response.status !== 404) throw await problemError(response, 'GET /pkce/authorize-url');
    await response.body?.cancel();
    if (ended) return undefined;
    if (Date.now() > deadline) {
      throw new BrokerError(
        'internal',
        `The broker did not start the sign-in within ${AUTHORIZE_URL_DEADLINE_MS / 1000} s (does it serve GET /pkce/authorize-url?).`,
      );
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      codeEnded,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, delay))),
    ]);
    clearTimeout(timer);
  }
}

/** challenge → code (held open while the browser is out) → token, over the broker's HTTP API. */
export async function signIn(options: SignInOptions): Promise<PKCE> {
  const inner = new AbortController();
  const signal =
    options.signal === undefined ? inner.signal : AbortSignal.any([options.signal, inner.signal]);
  const client = new BrokerClient(options.broker, options.appId);

  const challenge = await client.json<PKCE>(
    'GET',
    '/pkce/challenge',
    undefined,
    withTimeout(signal),
  );
  const state = challenge.challenge?.state;
  if (state === undefined)
    throw new BrokerError('internal', 'The broker answered GET /pkce/challenge without a state.');

  // No timeout of our own: the broker ends the wait (504) after its --wait-timeout.
  const code = client.json<PKCE>('POST', '/pkce/code', { state }, signal);
  const codeEnded = code.then(
    () => undefined,
    () => undefined,
  );
  try {
    const url = await authorizeUrlOf(client, state, codeEnded, signal);
    if (url !== undefined) await options.onAuthorizeUrl(url, signal);
    const answer = await code;
    const received = answer.result?.code;
    if (received === undefined)
      throw new BrokerError('internal', 'The broker answered POST /pkce/code without a code.');
    return await client.json<PKCE>(
      'POST',
      '/pkce/token',
      {
        grant_type: 'authorization_code',
        code: received,
        code_verifier: challenge.challenge?.verifier,
      },
      withTimeout(signal),
    );
  } catch (error) {
    // Whatever failed, the waiting code request goes too: the broker then forgets the flow.
    inner.abort(error);
    await codeEnded;
    throw error;
  }
}

interface Spinner {
  start(message: string): void;
  stop(): void;
}

/** A spinner on a terminal; one plain line where stderr is a file or a pipe. */
function spinnerOn(stream: NodeJS.WriteStream): Spinner {
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let timer: NodeJS.Timeout | undefined;
  return {
    start(message) {
      if (!stream.isTTY) {
        stream.write(`${message}\n`);
        return;
      }
      let i = 0;
      const draw = (): void => {
        stream.write(`\r${frames[i++ % frames.length]} ${message}`);
      };
      draw();
      timer = setInterval(draw, 80);
    },
    stop() {
      if (timer === undefined) return;
      clearInterval(timer);
      timer = undefined;
      stream.write('\r\x1b[2K');
    },
  };
}

/** Creates FILE readable only by its owner before any secret is written to it. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const handle = await open(path, 'w', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}

function isTrue(value: unknown): boolean {
  return value === true || (typeof value === 'string' && /^(1|true|yes)$/i.test(value));
}

const HELP = `Usage: pkce-broker login [--broker URL | --issuer URL --client-id ID] [--json] [--output FILE]

Signs you in from the terminal: gets a challenge from the broker, shows the
sign-in URL (the broker opens your browser), waits while you sign in, exchanges
the code and prints a summary with the tokens shortened.

  pkce-broker login                                  # through the broker at ${DEFAULT_BROKER}
  pkce-broker login --broker http://127.0.0.1:3000 --json > tokens.json
  pkce-broker login --issuer https://TENANT.eu.auth0.com/ --client-id ID --output tokens.json

With --issuer or --auth0-domain, login runs its own broker with the options of
\`serve\` for the length of the sign-in. The first --app-id, if any, is sent as
X-Application-ID. Ctrl-C cancels the sign-in (exit code 130).

Options:
`;

export async function login(argv: readonly string[]): Promise<number> {
  const loaded = loadConfig({ argv, env: process.env, extraOptions: LOGIN_OPTIONS });
  if (loaded.help) {
    process.stdout.write(`${HELP}${optionsHelp(LOGIN_OPTIONS)}`);
    return 0;
  }
  const { config, extra } = loaded;
  const brokerOption = typeof extra.broker === 'string' ? extra.broker : undefined;
  const output = typeof extra.output === 'string' && extra.output !== '' ? extra.output : undefined;
  const asJson = isTrue(extra.json);
  if (brokerOption !== undefined && config.issuer !== undefined) {
    throw new BrokerError(
      'config_invalid',
      'Give either --broker (a running broker) or --issuer/--auth0-domain (start one here), not both.',
    );
  }
  if (brokerOption !== undefined && !/^https?:\/\/[^/]/.test(brokerOption)) {
    throw new BrokerError(
      'config_invalid',
      `--broker must be the broker's http(s) URL, e.g. ${DEFAULT_BROKER}, got "${brokerOption}".`,
    );
  }

  const cancel = new AbortController();
  const onSigint = (): void => cancel.abort(new Error('cancelled'));
  process.on('SIGINT', onSigint);
  const spinner = spinnerOn(process.stderr);
  let own: RunningBroker | undefined;
  try {
    let broker = brokerOption ?? DEFAULT_BROKER;
    if (config.issuer !== undefined) {
      requireProvider(config);
      // Logs go to stderr, quiet unless asked: stdout is for the summary or the JSON answer.
      const levelGiven =
        argv.some((a) => a.startsWith('--log-level')) ||
        process.env[envName('log-level')] !== undefined;
      const logger = createLogger({
        level: levelGiven ? config.logLevel : 'warn',
        destination: process.stderr,
      });
      own = await startBroker({
        config,
        logger,
        // login shows the URL itself, so the opener only opens.
        openAuthorizeUrl: createBrowserOpener(config.open, logger, { announce: () => undefined }),
        appName: 'the terminal',
      });
      broker = own.url;
    }
    const started = performance.now();
    const answer = await signIn({
      broker,
      ...(config.appIds[0] !== undefined && { appId: config.appIds[0] }),
      signal: cancel.signal,
      onAuthorizeUrl(url) {
        process.stderr.write(
          `Sign in with your browser; if it does not open by itself, open:\n  ${url.href}\n\n`,
        );
        spinner.start(WAITING);
      },
    });
    spinner.stop();
    const text = `${JSON.stringify(answer, null, 2)}\n`;
    if (output !== undefined) await writePrivateFile(output, text);
    if (asJson) process.stdout.write(text);
    else {
      process.stdout.write(formatSummary(answer, { elapsedMs: performance.now() - started }));
      if (output !== undefined)
        process.stdout.write(`  ${'saved to'.padEnd(14)} ${output} (mode 0600, tokens in full)\n`);
    }
    return 0;
  } catch (error) {
    spinner.stop();
    if (cancel.signal.aborted) {
      process.stderr.write(
        'pkce-broker login: cancelled; the broker has forgotten this sign-in.\n',
      );
      return 130;
    }
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
    await own?.close();
  }
}
