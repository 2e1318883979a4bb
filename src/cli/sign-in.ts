/**
 * A whole sign-in through the broker's own HTTP API, as an app does it:
 * challenge → code (held open while the browser is out) → token with the
 * challenge's verifier. Shared by `login` and `demo`.
 *
 * The broker builds the provider URL inside POST /pkce/code and answers only
 * once the browser is back, so the URL reaches the client another way: from a
 * broker in this process through startBroker's `openAuthorizeUrl` (an
 * AuthorizeUrlInbox), from one in another process by GET /pkce/authorize-url.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerError, ERROR_STATUS, type BrokerErrorCode } from '../errors.js';
import type { PKCE, SeededPKCE } from '../protocol/models.js';
import { networkReason } from '../fault.js';

/** Requests that do not wait for a person. The token request includes a provider round trip. */
const CALL_TIMEOUT_MS = 30_000;
/** How long the in-flight POST /pkce/code may take to register its flow before we give up on showing the URL. */
const AUTHORIZE_URL_DEADLINE_MS = 10_000;

/**
 * Resolves with the provider URL of the flow with this state, once the broker
 * has built it; rejects with the signal's reason when `signal` aborts first
 * (the sign-in was cancelled, or POST /pkce/code ended without a URL).
 */
export type AuthorizeUrlSource = (state: string, signal: AbortSignal) => Promise<URL>;

export interface SignInOptions {
  /** Base URL of the broker, e.g. http://127.0.0.1:1000 */
  broker: string;
  /** Sent as X-Application-ID when the broker has an allow-list. */
  appId?: string;
  /** Aborting cancels the sign-in; the broker sees the disconnect and forgets the flow. */
  signal?: AbortSignal;
  /** Default: ask the broker (GET /pkce/authorize-url), for a broker in another process. */
  authorizeUrl?: AuthorizeUrlSource;
  /** Seed fields beside the challenge's state, e.g. `response_mode: 'query'` for paste-the-redirect. */
  seed?: Omit<SeededPKCE, 'state'>;
  /**
   * Called once the broker has built the provider URL. A person is shown it;
   * `demo` drives a scripted browser through it. A rejection cancels the sign-in.
   */
  onAuthorizeUrl(url: URL, signal: AbortSignal, flow: AuthorizeUrlContext): void | Promise<void>;
  /** The transport to the broker (tests watch what is sent). */
  fetch?: typeof fetch;
  /** The seed's `domain`: which configured provider to sign in with (default: the broker's default). */
  domain?: string;
}

export interface AuthorizeUrlContext {
  /** The flow's state (a pushed URL, PAR, does not carry it). */
  state: string;
  /** Aborts once POST /pkce/code has its answer (or failed): whatever still waits for the browser may stop. */
  settled: AbortSignal;
}

/**
 * Hands the URLs that an in-process broker opens to the sign-ins waiting for
 * them, by the flow's state. `open` is startBroker's `openAuthorizeUrl`.
 */
export class AuthorizeUrlInbox {
  readonly #waiting = new Map<string, (url: URL) => void>();

  /**
   * Whether a sign-in here was waiting for this URL (false: another app's
   * flow). `state` is the flow's, which a pushed URL (PAR) does not carry.
   */
  deliver(url: URL, state: string | null = url.searchParams.get('state')): boolean {
    const waiter = state === null ? undefined : this.#waiting.get(state);
    waiter?.(url);
    return waiter !== undefined;
  }

  readonly next: AuthorizeUrlSource = (state, signal) =>
    new Promise((resolve, reject) => {
      const stop = (): void => {
        this.#waiting.delete(state);
        reject(signal.reason);
      };
      if (signal.aborted) return stop();
      signal.addEventListener('abort', stop, { once: true });
      this.#waiting.set(state, (url) => {
        this.#waiting.delete(state);
        signal.removeEventListener('abort', stop);
        resolve(url);
      });
    });
}

export interface Problem {
  code?: unknown;
  detail?: unknown;
  error?: unknown;
}

/** The broker's problem+json document, or an empty one when the answer is not one. */
export async function readProblem(response: Response): Promise<Problem> {
  try {
    return (await response.json()) as Problem;
  } catch {
    // Not a problem document: the status alone must do.
    return {};
  }
}

/** A BrokerError from a problem+json answer, keeping the broker's own code and words. */
export async function problemError(
  response: Response,
  what: string,
  problem?: Problem,
): Promise<BrokerError> {
  problem ??= await readProblem(response);
  const code =
    typeof problem.code === 'string' && problem.code in ERROR_STATUS
      ? (problem.code as BrokerErrorCode)
      : 'internal';
  const detail = typeof problem.detail === 'string' ? problem.detail : `HTTP ${response.status}`;
  return new BrokerError(code, `${what} failed: ${detail}`, {
    ...(typeof problem.error === 'string' && { oauthError: problem.error }),
  });
}

export class BrokerClient {
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;

  constructor(base: string, appId: string | undefined, transport: typeof fetch = fetch) {
    this.#base = base.replace(/\/+$/, '');
    this.#headers = {
      accept: 'application/json',
      ...(appId !== undefined && { 'x-application-id': appId }),
    };
    this.#fetch = transport;
  }

  async send(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<Response> {
    try {
      return await this.#fetch(`${this.#base}${path}`, {
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
        `Cannot reach the broker at ${this.#base} (${networkReason(error)}): start one with \`pkce-broker serve\` or \`pkce-broker dev\`, or point --broker at yours.`,
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

export function withTimeout(signal: AbortSignal): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]);
}

/**
 * Asks the broker for the provider URL of the flow that the in-flight POST
 * /pkce/code is starting. That request registers the flow concurrently, so a
 * 404 at first means "not yet": retried with a short backoff until `signal`.
 */
function askBroker(client: BrokerClient): AuthorizeUrlSource {
  return async (state, signal) => {
    const path = `/pkce/authorize-url?state=${encodeURIComponent(state)}`;
    const deadline = Date.now() + AUTHORIZE_URL_DEADLINE_MS;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      const response = await client.send('GET', path, undefined, withTimeout(signal));
      if (response.ok)
        return new URL(((await response.json()) as { authorize_url: string }).authorize_url);
      if (response.status !== 404) throw await problemError(response, 'GET /pkce/authorize-url');
      await response.body?.cancel();
      if (Date.now() > deadline) {
        throw new BrokerError(
          'internal',
          `The broker did not start the sign-in within ${AUTHORIZE_URL_DEADLINE_MS / 1000} s (does it serve GET /pkce/authorize-url?).`,
        );
      }
      await sleep(delay, undefined, { signal });
    }
  };
}

export async function signIn(options: SignInOptions): Promise<PKCE> {
  const inner = new AbortController();
  const signal =
    options.signal === undefined ? inner.signal : AbortSignal.any([options.signal, inner.signal]);
  const client = new BrokerClient(options.broker, options.appId, options.fetch);

  const challenge = (
    await client.json<PKCE>('GET', '/pkce/challenge', undefined, withTimeout(signal))
  ).challenge;
  if (challenge?.state === undefined || challenge.verifier === undefined)
    throw new BrokerError(
      'internal',
      'The broker answered GET /pkce/challenge without a state and verifier.',
    );
  const { state, verifier } = challenge;

  // No timeout of our own: the broker ends the wait (504) after its --wait-timeout.
  const code = client.json<PKCE>(
    'POST',
    '/pkce/code',
    {
      ...options.seed,
      state,
      ...(options.domain !== undefined && { domain: options.domain }),
    },
    signal,
  );
  const codeEnded = new AbortController();
  void code.then(
    () => codeEnded.abort(),
    () => codeEnded.abort(),
  );
  try {
    const source = options.authorizeUrl ?? askBroker(client);
    const url = await source(state, AbortSignal.any([signal, codeEnded.signal])).catch(
      (error: unknown) => {
        // The code request ended first (it failed, or the flow had its answer already): its own outcome follows.
        if (codeEnded.signal.aborted && !signal.aborted) return undefined;
        throw error;
      },
    );
    if (url !== undefined)
      await options.onAuthorizeUrl(url, signal, { state, settled: codeEnded.signal });
    const received = (await code).result?.code;
    if (received === undefined)
      throw new BrokerError('internal', 'The broker answered POST /pkce/code without a code.');
    // The verifier proves this client is the one that asked for the challenge.
    return await client.json<PKCE>(
      'POST',
      '/pkce/token',
      { grant_type: 'authorization_code', code: received, code_verifier: verifier },
      withTimeout(signal),
    );
  } catch (error) {
    // Whatever failed, the waiting code request goes too: the broker then forgets the flow.
    inner.abort(error);
    await code.catch(() => undefined);
    throw error;
  }
}
