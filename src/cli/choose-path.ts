/**
 * Which way `login` signs the person in: a browser on this machine, the
 * device code (RFC 8628: the person signs in on any other device, a phone),
 * or pasting back the address a browser elsewhere ended on. Pure: the
 * environment, the options and what already happened in, one choice and the
 * one line that says why out.
 */
import { browserAvailability, type BrowserSurroundings } from '../browser/open.js';

export type LoginPath = 'browser' | 'device' | 'paste';

export interface PathChoice {
  path: LoginPath;
  /** One line for the person: what login does and why. */
  reason: string;
  /** The browser path on a machine that looks remote: fall back when no callback comes within the grace period. */
  watchForNoCallback?: boolean;
}

export interface PathInputs extends BrowserSurroundings {
  /** --device or --no-browser. */
  force?: 'device' | 'paste';
  /** What ended an earlier browser attempt. */
  browserFailed?:
    { kind: 'opener_failed'; reason: string } | { kind: 'no_callback'; graceSec: number };
  /** The broker answered POST /device/code with device_flow_unsupported. */
  deviceUnsupported?: boolean;
}

export function choosePath(inputs: PathInputs): PathChoice {
  if (inputs.force === 'device') {
    return { path: 'device', reason: 'Signing in with a device code (--device).' };
  }
  if (inputs.force === 'paste') {
    return { path: 'paste', reason: 'Signing in by pasting the address back (--no-browser).' };
  }
  let why: string;
  if (inputs.browserFailed?.kind === 'opener_failed') {
    why = `the browser could not be opened (${inputs.browserFailed.reason})`;
  } else if (inputs.browserFailed?.kind === 'no_callback') {
    why = `no browser came back within ${inputs.browserFailed.graceSec} s and this looks like an SSH session`;
  } else {
    const browser = browserAvailability(inputs);
    if (browser.canOpen) {
      return {
        path: 'browser',
        reason: browser.wsl
          ? 'Signing in with your browser (WSL: it opens on the Windows side).'
          : 'Signing in with your browser.',
        ...(browser.remote && { watchForNoCallback: true }),
      };
    }
    why = browser.reason;
  }
  if (inputs.deviceUnsupported === true) {
    return {
      path: 'paste',
      reason: `Signing in by pasting the address back: ${why}, and the provider has no device flow.`,
    };
  }
  return { path: 'device', reason: `Signing in with a device code: ${why}.` };
}
