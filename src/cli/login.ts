/**
 * `pkce-broker login`: a whole sign-in from a terminal, through the broker's
 * own HTTP API — against a running broker (--broker) or one started here from
 * the same options as `serve`.
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createBrowserOpener } from '../browser/open.js';
import type { RunningBroker } from '../broker.js';
import { requireProvider, type LoadedConfig } from '../config/load.js';
import type { OptionSpec } from '../config/options.js';
import { BrokerError } from '../errors.js';
import { CREDENTIAL_STORE_OPTION, NO_SAVE_OPTION } from '../credentials/options.js';
import { saveLogin } from '../credentials/save-login.js';
import { DEFAULT_PROVIDER_ID } from '../config/providers.js';
import type { CommandModule } from './commands.js';
import type { PKCE } from '../protocol/models.js';
import { choosePath, type PathChoice, type PathInputs } from './choose-path.js';
import {
  UNSUPPORTED,
  cancelDeviceSignIn,
  startDeviceSignIn,
  waitForDeviceToken,
} from './device-client.js';
import { collectPaste, deliverToCallback, terminalQuestions } from './paste.js';
import {
  AuthorizeUrlInbox,
  BrokerClient,
  signIn,
  type AuthorizeUrlSource,
  type SignInOptions,
} from './sign-in.js';

export const DEFAULT_BROKER = 'http://localhost:1000';
export const DEFAULT_GRACE_SEC = 20;

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
    flag: 'device',
    kind: 'boolean',
    description:
      'Sign in with a device code: open a URL on any device (a phone: scan the QR code) and enter the code shown.',
  },
  {
    flag: 'no-browser',
    kind: 'boolean',
    description:
      'Open the sign-in URL in a browser anywhere and paste back the address it ended on.',
  },
  {
    flag: 'browser-grace',
    kind: 'integer',
    meta: 'SECONDS',
    defaultText: String(DEFAULT_GRACE_SEC),
    description:
      'Over SSH, how long to wait for the browser before falling back to a device code or pasting.',
  },
  {
    flag: 'output',
    kind: 'string',
    meta: 'FILE',
    description: 'Also write the PKCE token answer to FILE, readable only by you (mode 0600).',
  },
  {
    flag: 'provider',
    kind: 'string',
    meta: 'ID',
    description:
      "Sign in with this configured provider (its id; `default` for the one given by flags). Default: the broker's default.",
  },
  NO_SAVE_OPTION,
  CREDENTIAL_STORE_OPTION,
];

const WAITING = 'Waiting for you to finish in the browser… (Ctrl-C to cancel)';

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

const HELP = `Usage: pkce-broker login [--broker URL | --issuer URL --client-id ID] [--device | --no-browser] [--json] [--output FILE]

Signs you in from the terminal: gets a challenge from the broker, shows the
sign-in URL (the broker opens your browser), waits while you sign in, exchanges
the code and prints a summary with the tokens shortened.

Where no browser can be opened here (an SSH session without a display,
--open never, the opener failing, or over SSH no browser back within
--browser-grace seconds), login shows a device code to enter on any other
device (a phone scans its QR code) when the provider has a device flow, and
otherwise asks you to open the URL anywhere and paste back the address the
browser ended on. --device and --no-browser choose those ways yourself.

  pkce-broker login                                  # through the broker at ${DEFAULT_BROKER}
  pkce-broker login --broker http://127.0.0.1:3000 --json > tokens.json
  pkce-broker login --issuer https://TENANT.eu.auth0.com/ --client-id ID --output tokens.json

With --issuer or --auth0-domain, or a "providers" list in the config file (and
no --broker), login runs its own broker with the options of \`serve\` for the
length of the sign-in. --provider ID signs in with that configured provider. The first --app-id, if any, is sent as
X-Application-ID. Ctrl-C cancels the sign-in (exit code 130).

Options:
`;

export const command: CommandModule = { help: HELP, options: LOGIN_OPTIONS, run: login };

/** Ends a browser attempt so that login takes another path. */
class FallBack extends Error {
  constructor(readonly failure: NonNullable<PathInputs['browserFailed']>) {
    super('falling back from the browser');
  }
}

function procVersion(): string | undefined {
  try {
    return readFileSync('/proc/version', 'utf8');
  } catch {
    return undefined;
  }
}

/** The broker login talks to, and how the URL of a flow reaches login. */
interface Session {
  broker: string;
  appId?: string;
  authorizeUrl?: AuthorizeUrlSource;
  /** Whether a broker of login's own opens a browser for the next flow (paste and device do not). */
  setOpening(opening: boolean): void;
  /** The seed's `domain` naming the --provider chosen; absent, the broker's default. */
  domain?: string;
  /** The id of the provider signed in with, under which the session is saved. */
  providerId: string;
}

async function login({ config, extra, sources }: LoadedConfig): Promise<number> {
  const brokerOption = typeof extra.broker === 'string' ? extra.broker : undefined;
  const output = typeof extra.output === 'string' && extra.output !== '' ? extra.output : undefined;
  const asJson = isTrue(extra.json);
  const force = isTrue(extra.device) ? 'device' : isTrue(extra.noBrowser) ? 'paste' : undefined;
  const graceSec =
    extra.browserGrace === undefined ? DEFAULT_GRACE_SEC : Number(extra.browserGrace);
  if (isTrue(extra.device) && isTrue(extra.noBrowser)) {
    throw new BrokerError('config_invalid', 'Give either --device or --no-browser, not both.');
  }
  if (!Number.isInteger(graceSec) || graceSec < 1) {
    throw new BrokerError(
      'config_invalid',
      '--browser-grace must be a whole number of seconds ≥ 1.',
    );
  }
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

  const providerOption =
    typeof extra.provider === 'string' && extra.provider !== '' ? extra.provider : undefined;
  // A providers list in the config file starts a broker here like --issuer does, unless --broker names one.
  const ownBroker =
    config.issuer !== undefined || (brokerOption === undefined && config.providers.length > 0);

  const cancel = new AbortController();
  const onSigint = (): void => cancel.abort(new Error('cancelled'));
  process.on('SIGINT', onSigint);
  const spinner = spinnerOn(process.stderr);
  let own: RunningBroker | undefined;
  // A browser attempt ends early (opener failed, no callback in time) by aborting this one.
  let attempt = new AbortController();
  try {
    const session: Session = {
      broker: brokerOption ?? DEFAULT_BROKER,
      ...(config.appIds[0] !== undefined && { appId: config.appIds[0] }),
      setOpening: () => undefined,
      providerId: providerOption ?? DEFAULT_PROVIDER_ID,
    };
    if (ownBroker) {
      const specs = requireProvider(config);
      if (providerOption !== undefined && !specs.some((spec) => spec.id === providerOption))
        throw unknownProvider(
          providerOption,
          specs.map((spec) => spec.id),
        );
      // Loaded here, not at the top: the broker (Fastify, pino) is for this path only, not
      // for --help or a sign-in through a running broker.
      const [{ startBroker }, { createLogger }] = await Promise.all([
        import('../broker.js'),
        import('../logging.js'),
      ]);
      // Logs go to stderr, quiet unless asked: stdout is for the summary or the JSON answer.
      const logger = createLogger({
        level: sources.logLevel === undefined ? 'warn' : config.logLevel,
        destination: process.stderr,
      });
      // login shows the URL itself, so the browser opener only opens.
      const openBrowser = createBrowserOpener(config.open, logger, {
        announce: () => undefined,
        onFailed: (reason) => attempt.abort(new FallBack({ kind: 'opener_failed', reason })),
      });
      const inbox = new AuthorizeUrlInbox();
      let opening = true;
      own = await startBroker({
        config,
        logger,
        // A login a day against the same issuer starts without a round trip (--no-discovery-cache: off).
        discoveryCache: config.discoveryCache ?? true,
        openAuthorizeUrl: (url, flow) => {
          inbox.deliver(url, flow.state);
          return opening ? openBrowser(url) : undefined;
        },
        appName: 'the terminal',
      });
      session.broker = own.url;
      session.authorizeUrl = inbox.next;
      session.providerId = providerOption ?? own.providers.defaultId;
      // The issuer URL is a domain the broker maps back to exactly this provider.
      if (providerOption !== undefined) session.domain = own.providers.byId(providerOption)!.issuer;
      session.setOpening = (value) => {
        opening = value;
      };
    }

    if (!ownBroker && providerOption !== undefined)
      session.domain = await remoteProviderDomain(session, providerOption, cancel.signal);

    const inputs: PathInputs = {
      env: process.env,
      platform: process.platform,
      mode: config.open,
      ...(force !== undefined && { force }),
    };
    const procText = process.platform === 'linux' ? procVersion() : undefined;
    if (procText !== undefined) inputs.procVersion = procText;
    let choice = choosePath(inputs);
    const started = performance.now();
    let answer: PKCE | undefined;
    if (choice.path === 'browser') {
      if (choice.reason !== 'Signing in with your browser.')
        process.stderr.write(`${choice.reason}\n`);
      try {
        answer = await browserSignIn(session, choice, graceSec, spinner, cancel.signal, attempt);
      } catch (error) {
        spinner.stop();
        const reason: unknown = attempt.signal.reason;
        if (cancel.signal.aborted || !(reason instanceof FallBack)) throw error;
        attempt = new AbortController();
        inputs.browserFailed = reason.failure;
        choice = choosePath(inputs);
      }
    }
    if (answer === undefined) {
      session.setOpening(false);
      answer = await remoteSignIn(session, choice, inputs, cancel, spinner);
    }
    spinner.stop();
    await afterSignIn(answer, {
      extra,
      asJson,
      output,
      elapsedMs: performance.now() - started,
      providerId: session.providerId,
    });
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

/** Everything that follows a successful sign-in, whichever way it went. */
async function afterSignIn(
  answer: PKCE,
  options: {
    extra: LoadedConfig['extra'];
    asJson: boolean;
    output: string | undefined;
    elapsedMs: number;
    providerId: string;
  },
): Promise<void> {
  const { output } = options;
  await saveLogin(answer, { extra: options.extra, providerId: options.providerId });
  const text = `${JSON.stringify(answer, null, 2)}\n`;
  if (output !== undefined) await writePrivateFile(output, text);
  if (options.asJson) process.stdout.write(text);
  else {
    const { formatSummary } = await import('./summary.js');
    process.stdout.write(formatSummary(answer, { elapsedMs: options.elapsedMs }));
    if (output !== undefined)
      process.stdout.write(`  ${'saved to'.padEnd(14)} ${output} (mode 0600, tokens in full)\n`);
  }
}

function signInOptions(
  session: Session,
  signal: AbortSignal,
): Omit<SignInOptions, 'onAuthorizeUrl'> {
  return {
    broker: session.broker,
    ...(session.appId !== undefined && { appId: session.appId }),
    ...(session.authorizeUrl !== undefined && { authorizeUrl: session.authorizeUrl }),
    ...(session.domain !== undefined && { domain: session.domain }),
    signal,
  };
}

function unknownProvider(id: string, configured: readonly string[]): BrokerError {
  return new BrokerError(
    'config_invalid',
    `--provider ${id}: no such provider; configured: ${configured.join(', ')}.`,
  );
}

/**
 * The issuer of a running broker's provider `id`, from its GET /healthz
 * (which lists every configured provider): the domain that picks it.
 */
async function remoteProviderDomain(
  session: Session,
  id: string,
  signal: AbortSignal,
): Promise<string> {
  const response = await fetch(new URL('/healthz', session.broker), {
    headers: session.appId === undefined ? {} : { 'x-application-id': session.appId },
    signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
  }).catch((error: unknown) => {
    throw new BrokerError(
      'provider_unavailable',
      `Cannot reach the broker at ${session.broker} (${(error as Error).message}).`,
    );
  });
  const health = (await response.json().catch(() => ({}))) as {
    providers?: Array<{ id?: unknown; issuer?: unknown }>;
  };
  const providers = Array.isArray(health.providers) ? health.providers : [];
  const found = providers.find((p) => p.id === id);
  if (found === undefined || typeof found.issuer !== 'string')
    throw unknownProvider(
      id,
      providers.map((p) => String(p.id)),
    );
  return found.issuer;
}

/** The browser on this machine; over SSH, given up after the grace period without a callback. */
async function browserSignIn(
  session: Session,
  choice: PathChoice,
  graceSec: number,
  spinner: Spinner,
  cancelled: AbortSignal,
  attempt: AbortController,
): Promise<PKCE> {
  let grace: NodeJS.Timeout | undefined;
  try {
    return await signIn({
      ...signInOptions(session, AbortSignal.any([cancelled, attempt.signal])),
      onAuthorizeUrl(url) {
        process.stderr.write(
          `Sign in with your browser; if it does not open by itself, open:\n  ${url.href}\n\n`,
        );
        spinner.start(WAITING);
        if (choice.watchForNoCallback === true) {
          grace = setTimeout(
            () => attempt.abort(new FallBack({ kind: 'no_callback', graceSec })),
            graceSec * 1000,
          );
        }
      },
    });
  } finally {
    clearTimeout(grace);
  }
}

/** The device code where the provider has one, else paste-the-redirect; says which in one line. */
async function remoteSignIn(
  session: Session,
  first: PathChoice,
  inputs: PathInputs,
  cancel: AbortController,
  spinner: Spinner,
): Promise<PKCE> {
  const { signal } = cancel;
  let choice = first;
  const client = new BrokerClient(session.broker, session.appId);
  if (choice.path === 'device') {
    const device = await startDeviceSignIn(
      client,
      session.domain === undefined ? {} : { domain: session.domain },
      signal,
    );
    if (device !== undefined) {
      process.stderr.write(`${choice.reason}\n`);
      let screen: { stop(): void };
      try {
        // qrcode (and pngjs under it) only for the device screen, not for every login or --help.
        const { showDeviceScreen } = await import('./device-screen.js');
        screen = await showDeviceScreen(device, process.stderr);
      } catch (error) {
        // Nobody will ask for this flow's tokens: the broker must not poll for them.
        await cancelDeviceSignIn(client, device.handle);
        throw error;
      }
      try {
        return await waitForDeviceToken(client, device.handle, signal);
      } finally {
        screen.stop();
      }
    }
    if (inputs.force === 'device') {
      throw new BrokerError(
        UNSUPPORTED,
        `--device: the identity provider has no device flow (${UNSUPPORTED}: its discovery lists no device_authorization_endpoint); sign in with --no-browser instead, or with the browser.`,
      );
    }
    choice = choosePath({ ...inputs, deviceUnsupported: true });
  }
  process.stderr.write(`${choice.reason}\n`);
  return pasteSignIn(session, cancel, spinner);
}

const PASTE_HELP = `When you have signed in, that browser goes to the broker's address on 127.0.0.1,
which does not load on another machine. Copy that address from its address bar
and paste it here (or just code=…&state=…).
`;

async function pasteSignIn(
  session: Session,
  cancel: AbortController,
  spinner: Spinner,
): Promise<PKCE> {
  // Ctrl-C inside the prompt reaches readline, not the process: it ends the sign-in all the same.
  const questions = terminalQuestions(() => cancel.abort(new Error('cancelled')));
  try {
    return await signIn({
      ...signInOptions(session, cancel.signal),
      seed: { response_mode: 'query' },
      async onAuthorizeUrl(url, shown, flow) {
        process.stderr.write(
          `Open this URL in a browser on any machine and sign in:\n  ${url.href}\n\n${PASTE_HELP}\n`,
        );
        const stop = AbortSignal.any([shown, flow.settled]);
        try {
          await collectPaste({
            state: flow.state,
            ask: questions.ask,
            deliver: (params, s) => deliverToCallback(session.broker, params, s),
            say: (line) => process.stderr.write(`${line}\n`),
            signal: stop,
          });
        } catch (error) {
          // The sign-in ended some other way (the browser did reach the broker, or it failed): its outcome follows.
          if (flow.settled.aborted && !shown.aborted) return;
          throw error;
        }
        spinner.start('Signing in…');
      },
    });
  } finally {
    questions.close();
  }
}
