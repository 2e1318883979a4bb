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
  /** Told when no browser could be started (the URL was announced instead): `login` then falls back. */
  onFailed?: (reason: string) => void;
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
      const reason = (error as Error).message;
      log.warn({ reason }, 'Could not open a browser; the URL is shown for opening by hand.');
      announce(href);
      options.onFailed?.(reason);
    }
  };
}

/** What decides whether a browser can be opened here: the environment, never a probe. */
export interface BrowserSurroundings {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  /** The text of /proc/version on Linux (WSL says "Microsoft" there), when readable. */
  procVersion?: string;
  mode: OpenMode;
}

export type BrowserAvailability =
  | {
      canOpen: true;
      /** An SSH session: the browser may open on a screen the person is not looking at. */
      remote: boolean;
      /** Under WSL, `open` starts the Windows default browser (through powershell.exe). */
      wsl: boolean;
    }
  | { canOpen: false; reason: string };

export function isWsl(
  surroundings: Pick<BrowserSurroundings, 'env' | 'platform' | 'procVersion'>,
): boolean {
  if (surroundings.platform !== 'linux') return false;
  return (
    Boolean(surroundings.env.WSL_DISTRO_NAME) || /microsoft/i.test(surroundings.procVersion ?? '')
  );
}

/**
 * Whether the opener above can show the sign-in page to the person at this
 * terminal. Pure. An explicit command (--open CMD, $BROWSER) is trusted: the
 * person chose it. An SSH session on a Unix without a display server is the
 * classic remote shell where xdg-open fails; macOS and Windows over SSH open
 * a browser on the far screen, so they count as remote (login then falls
 * back when no browser comes back in time).
 */
export function browserAvailability(surroundings: BrowserSurroundings): BrowserAvailability {
  const { env, platform, mode } = surroundings;
  const remote = Boolean(env.SSH_CONNECTION) || Boolean(env.SSH_TTY);
  if (mode === 'never') return { canOpen: false, reason: '--open is never' };
  if (mode !== 'auto' || Boolean(env.BROWSER)) return { canOpen: true, remote, wsl: false };
  if (isWsl(surroundings)) return { canOpen: true, remote, wsl: true };
  if (platform === 'darwin' || platform === 'win32') return { canOpen: true, remote, wsl: false };
  // Without SSH a missing display may still open something (a text browser, a desktop's own
  // launcher): the opener's failure says so, and login falls back then.
  if (!remote || Boolean(env.DISPLAY) || Boolean(env.WAYLAND_DISPLAY))
    return { canOpen: true, remote, wsl: false };
  return {
    canOpen: false,
    reason: 'this is an SSH session with no display (no DISPLAY, WAYLAND_DISPLAY or $BROWSER)',
  };
}
