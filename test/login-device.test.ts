/**
 * `pkce-broker login` on the device path (issue 12), for real: in a
 * pseudo-terminal, through a broker on the bundled provider with its device
 * flow (polled every second: the provider's own `interval`). The screen shows
 * the user code, where to enter it and a QR code of the complete URI; the
 * person's step is the scripted device login with the code read off the
 * screen. Ctrl-C while waiting exits 130 and the broker stops polling. Over
 * SSH without a display login picks the device path by itself and says why;
 * `--device` with a provider that has no device flow says what to do instead.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import QRCode from 'qrcode';
import { startBroker, type RunningBroker } from '../src/broker.js';
import { scriptedDeviceLogin } from '../src/devprovider/login.js';
import type { DevProvider } from '../src/devprovider/provider.js';
import { createLogger } from '../src/logging.js';
import type { IdentityProvider } from '../src/provider/types.js';
import { MemoryDeviceStore } from '../src/store/device-memory.js';
import type { DeviceLookup } from '../src/store/device-types.js';
import { startCli, type CliProcess } from './support/cli.js';
import { configFor, countedProvider } from './support/device.js';
import { postJson, startStack, type Stack } from './support/stack.js';

/** A device store that tells the test the handles it is given and when a waiter holds one. */
class WatchedDeviceStore extends MemoryDeviceStore {
  readonly #created: Array<(handle: string) => void> = [];
  readonly #claims = new Map<string, () => void>();
  readonly #claimed = new Set<string>();

  /** The handle of the next device flow created. */
  nextHandle(): Promise<string> {
    return new Promise((resolve) => this.#created.push(resolve));
  }

  /** Resolves once a waiter (POST /device/token) holds the handle. */
  claimed(handle: string): Promise<void> {
    if (this.#claimed.has(handle)) return Promise.resolve();
    return new Promise((resolve) => this.#claims.set(handle, resolve));
  }

  /** Resolves once the flow has an outcome. */
  outcome(handle: string): Promise<DeviceLookup> {
    return this.waitForOutcome(handle, new AbortController().signal);
  }

  override async create(...args: Parameters<MemoryDeviceStore['create']>): Promise<void> {
    await super.create(...args);
    this.#created.shift()?.(args[0].handle);
  }

  override async claimWaiter(handle: string, leaseMs: number): Promise<string | undefined> {
    const claim = await super.claimWaiter(handle, leaseMs);
    if (claim !== undefined) {
      this.#claimed.add(handle);
      this.#claims.get(handle)?.();
    }
    return claim;
  }
}

/** What a terminal shows: CRLF as LF, no colour or cursor escapes, each line as last redrawn. */
function screenText(login: CliProcess): string {
  return login
    .stdout()
    .split(/\r?\n/)
    .map(
      (line) =>
        line
          .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
          .split('\r')
          .filter(Boolean)
          .pop() ?? '',
    )
    .join('\n');
}

/** The device screen, once drawn: the verification URI and the user code as shown. */
async function shownDevice(login: CliProcess): Promise<{ uri: string; userCode: string }> {
  await login.waitFor('stdout', /Waiting… \(Ctrl-C to cancel\)/);
  const match = screenText(login).match(/open\n {2}(http\S+)\nand enter the code\n\n {4}(.+)\n/);
  assert.ok(match, screenText(login));
  // Shown spaced out for reading across a room: "W D J B - M J H T".
  return { uri: match[1]!, userCode: match[2]!.replaceAll(' ', '') };
}

/** The "Signing in …" lines: which path login took, and why. */
function announced(login: CliProcess): string[] {
  return screenText(login)
    .split('\n')
    .filter((line) => line.startsWith('Signing in'));
}

describe('pkce-broker login on the device path, against the bundled provider', () => {
  let devProvider: DevProvider;
  let broker: RunningBroker;
  let polls: () => number;
  const deviceStore = new WatchedDeviceStore();

  before(async () => {
    let provider: IdentityProvider;
    ({ devProvider, provider, polls } = await countedProvider(1));
    broker = await startBroker({
      config: configFor(devProvider),
      provider,
      logger: createLogger({ level: 'silent' }),
      deviceStore,
    });
    devProvider.setRedirectUris([broker.redirectUri]);
  });
  after(async () => {
    await broker.close();
    await deviceStore.close();
    await devProvider.close();
  });

  it('--device: the screen shows the code, the URI and a QR code; signing in there ends with the summary', async () => {
    const created = deviceStore.nextHandle();
    const login = startCli(['login', '--broker', broker.url, '--device'], { pty: true });
    try {
      const { uri, userCode } = await shownDevice(login);
      assert.equal(new URL(uri).origin, new URL(devProvider.issuer).origin);
      assert.match(userCode, /^[A-Z]{4}-[A-Z]{4}$/);
      assert.deepEqual(announced(login), ['Signing in with a device code (--device).']);
      // The QR code carries the complete URI (oidc-provider's: the code as a query parameter).
      const complete = `${uri}?user_code=${encodeURIComponent(userCode)}`;
      const qr = await QRCode.toString(complete, { type: 'terminal', small: true });
      assert.ok(
        login.stdout().replaceAll('\r\n', '\n').includes(qr.replace(/\n+$/, '')),
        'the QR code of the complete URI is on the screen',
      );
      assert.match(screenText(login), /The code expires in \d+:\d\d\. Waiting…/);

      // The person, on their phone: the code read off the screen.
      assert.equal(await scriptedDeviceLogin(uri, userCode), 'signed-in');
      const { code, stdout } = await login.exited;
      assert.equal(code, 0, stdout);
      assert.match(stdout, /Signed in as Demo User in \d+\.\d s\./);
      assert.match(stdout, /refresh token {2}yes/);
      assert.equal(broker.device.polling, 0);
      // Delivered once: the handle means nothing now.
      const handle = await created;
      assert.equal((await fetch(`${broker.url}/device/token`, postJson({ handle }))).status, 404);
    } finally {
      login.child.kill();
    }
  });

  it('Ctrl-C while waiting: exit 130, the flow is cancelled and the broker stops polling', async () => {
    const created = deviceStore.nextHandle();
    const login = startCli(['login', '--broker', broker.url, '--device'], { pty: true });
    try {
      await shownDevice(login);
      const handle = await created;
      await deviceStore.claimed(handle);
      const ended = deviceStore.outcome(handle);

      login.write('\x03');
      const { code, stdout } = await login.exited;
      assert.equal(code, 130, stdout);
      assert.match(stdout, /pkce-broker login: cancelled; the broker has forgotten this sign-in\./);
      const lookup = await ended;
      assert.deepEqual(lookup.kind === 'live' && lookup.outcome, { kind: 'cancelled' });
      // The poller's timer is gone with the outcome: the provider hears no further poll.
      assert.equal(broker.device.polling, 0);
      const before = polls();
      const later = await fetch(`${broker.url}/device/token`, postJson({ handle }));
      assert.equal(later.status, 409);
      assert.match(String(((await later.json()) as { detail?: unknown }).detail), /cancelled/);
      assert.equal(broker.device.polling, 0, 'asking again starts no poller');
      assert.equal(polls(), before);
    } finally {
      login.child.kill();
    }
  });

  it('an SSH session without a display: login takes the device path by itself and says why', async () => {
    const login = startCli(['login', '--broker', broker.url], {
      pty: true,
      env: { SSH_CONNECTION: '10.0.0.2 51234 10.0.0.1 22', SSH_TTY: '/dev/pts/7' },
    });
    try {
      const { uri, userCode } = await shownDevice(login);
      assert.deepEqual(announced(login), [
        'Signing in with a device code: this is an SSH session with no display (no DISPLAY, WAYLAND_DISPLAY or $BROWSER).',
      ]);
      assert.equal(await scriptedDeviceLogin(uri, userCode), 'signed-in');
      const { code, stdout } = await login.exited;
      assert.equal(code, 0, stdout);
      assert.match(stdout, /Signed in as Demo User/);
    } finally {
      login.child.kill();
    }
  });
});

describe('pkce-broker login --device with a provider that has no device flow', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ provider: { deviceFlow: false }, logLevel: 'warn' });
  });
  after(async () => {
    await stack.close();
  });

  it('says so in one line, with the broker’s code and what to do instead', async () => {
    const { code, stdout } = await startCli(['login', '--broker', stack.broker.url, '--device'], {
      pty: true,
    }).exited;
    assert.equal(code, 1, stdout);
    const lines = screenText({ stdout: () => stdout } as CliProcess)
      .split('\n')
      .filter(Boolean);
    assert.deepEqual(lines, [
      'pkce-broker login: --device: the identity provider has no device flow (device_flow_unsupported: its discovery lists no device_authorization_endpoint); sign in with --no-browser instead, or with the browser.',
    ]);
  });
});
