/**
 * Hands the authorize URL to a browser. Never through a shell, and only for
 * http(s) URLs: a crafted authorization_endpoint must not become a command.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../logging.js';
import { redactUrl } from '../redact.js';

/** Splits a command line into words, honouring single and double quotes; no other shell syntax. */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: '"' | "'" | undefined;
  let inWord = false;
  for (const char of command) {
    if (quote) {
      if (char === quote) quote = undefined;
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += char;
      inWord = true;
    }
  }
  if (quote) throw new Error(`Unbalanced ${quote} in command: ${command}`);
  if (inWord) words.push(current);
  return words;
}

export type OpenMode = 'auto' | 'never' | string;

export interface BrowserOpener {
  (url: URL): Promise<void>;
}

function runDetached(argv: string[], url: string): Promise<void> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error('empty command'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args, url], { stdio: 'ignore', detached: true, shell: false });
    child.once('error', reject);
    child.once('spawn', () => {
      child.unref();
      resolve();
    });
  });
}

async function systemOpen(url: string): Promise<void> {
  // Loaded on demand: `serve` with --open never need not pay for it at start-up.
  const { default: open } = await import('open');
  const child = await open(url, { wait: false });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => resolve());
  });
  child.unref();
}

export interface OpenerOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * Shows the whole URL to the person at the terminal. It bypasses the logger on
   * purpose: the logger scrubs state and nonce, and a person needs them to sign in.
   */
  announce?: (href: string) => void;
}

function announceOnStderr(href: string): void {
  process.stderr.write(`\nOpen this URL in your browser to sign in:\n  ${href}\n\n`);
}

export function createBrowserOpener(
  mode: OpenMode,
  log: Logger,
  options: OpenerOptions = {},
): BrowserOpener {
  const env = options.env ?? process.env;
  const announce = options.announce ?? announceOnStderr;
  return async (url: URL) => {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      log.error({ protocol: url.protocol }, 'Refusing to open a sign-in URL that is not http(s).');
      return;
    }
    const href = url.toString();
    if (mode === 'never') {
      log.info(
        { url: redactUrl(href) },
        'Sign-in started; the URL is left for a person or app to open.',
      );
      announce(href);
      return;
    }
    log.info({ url: redactUrl(href) }, 'Opening the sign-in page in a browser.');
    try {
      if (mode === 'auto') {
        const browser = env.BROWSER;
        if (browser) await runDetached(splitCommand(browser), href);
        else await systemOpen(href);
      } else {
        await runDetached(splitCommand(mode), href);
      }
    } catch (error) {
      log.warn(
        { reason: (error as Error).message },
        'Could not open a browser; the URL is shown for opening by hand.',
      );
      announce(href);
    }
  };
}
