/**
 * `pkce-broker login`: a whole sign-in from a terminal, through the broker's
 * own HTTP API — against a running broker (--broker) or one started here from
 * the same options as `serve`.
 */
import { open } from 'node:fs/promises';
import { createBrowserOpener } from '../browser/open.js';
import { startBroker, type RunningBroker } from '../broker.js';
import { requireProvider, type LoadedConfig } from '../config/load.js';
import type { OptionSpec } from '../config/options.js';
import { BrokerError } from '../errors.js';
import { CREDENTIAL_STORE_OPTION, NO_SAVE_OPTION } from '../credentials/options.js';
import { saveLogin } from '../credentials/save-login.js';
import { createLogger } from '../logging.js';
import type { CommandModule } from './commands.js';
import { AuthorizeUrlInbox, signIn, type AuthorizeUrlSource } from './sign-in.js';
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

export const command: CommandModule = { help: HELP, options: LOGIN_OPTIONS, run: login };

async function login({ config, extra, sources }: LoadedConfig): Promise<number> {
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
    let authorizeUrl: AuthorizeUrlSource | undefined;
    if (config.issuer !== undefined) {
      requireProvider(config);
      // Logs go to stderr, quiet unless asked: stdout is for the summary or the JSON answer.
      const logger = createLogger({
        level: sources.logLevel === undefined ? 'warn' : config.logLevel,
        destination: process.stderr,
      });
      // login shows the URL itself, so the browser opener only opens.
      const openBrowser = createBrowserOpener(config.open, logger, { announce: () => undefined });
      const inbox = new AuthorizeUrlInbox();
      own = await startBroker({
        config,
        logger,
        openAuthorizeUrl: (url, flow) => {
          inbox.deliver(url, flow.state);
          return openBrowser(url);
        },
        appName: 'the terminal',
      });
      broker = own.url;
      authorizeUrl = inbox.next;
    }
    const started = performance.now();
    const answer = await signIn({
      broker,
      ...(config.appIds[0] !== undefined && { appId: config.appIds[0] }),
      ...(authorizeUrl !== undefined && { authorizeUrl }),
      signal: cancel.signal,
      onAuthorizeUrl(url) {
        process.stderr.write(
          `Sign in with your browser; if it does not open by itself, open:\n  ${url.href}\n\n`,
        );
        spinner.start(WAITING);
      },
    });
    spinner.stop();
    await saveLogin(answer, { extra });
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
