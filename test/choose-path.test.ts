/**
 * The automatic choice of `login` (issue 12, test f, the pure part): a browser
 * where one can be opened, otherwise the device code, otherwise pasting; the
 * flags force a path; and always one line saying why.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { browserAvailability } from '../src/browser/open.js';
import { choosePath, type PathInputs } from '../src/cli/choose-path.js';

const SSH = { SSH_CONNECTION: '10.0.0.2 51234 10.0.0.1 22' };
const linux = (env: NodeJS.ProcessEnv, more: Partial<PathInputs> = {}): PathInputs => ({
  env,
  platform: 'linux',
  mode: 'auto',
  ...more,
});

describe('browserAvailability', () => {
  it('an SSH session on Linux without a display or $BROWSER cannot open one', () => {
    for (const env of [SSH, { SSH_TTY: '/dev/pts/3' }]) {
      assert.deepEqual(browserAvailability(linux(env)), {
        canOpen: false,
        reason: 'this is an SSH session with no display (no DISPLAY, WAYLAND_DISPLAY or $BROWSER)',
      });
    }
  });

  it('a display, $BROWSER or an --open command makes it possible, remote over SSH', () => {
    for (const env of [
      { ...SSH, DISPLAY: 'localhost:10.0' },
      { ...SSH, WAYLAND_DISPLAY: 'wayland-0' },
      { ...SSH, BROWSER: 'w3m' },
    ]) {
      assert.deepEqual(browserAvailability(linux(env)), {
        canOpen: true,
        remote: true,
        wsl: false,
      });
    }
    assert.deepEqual(browserAvailability(linux(SSH, { mode: 'firefox --new-window' })), {
      canOpen: true,
      remote: true,
      wsl: false,
    });
    assert.deepEqual(browserAvailability(linux({ DISPLAY: ':0' })), {
      canOpen: true,
      remote: false,
      wsl: false,
    });
  });

  it('--open never cannot, whatever else', () => {
    assert.equal(browserAvailability(linux({ DISPLAY: ':0' }, { mode: 'never' })).canOpen, false);
  });

  it('WSL opens on the Windows side: by WSL_DISTRO_NAME or /proc/version', () => {
    assert.deepEqual(browserAvailability(linux({ WSL_DISTRO_NAME: 'Ubuntu' })), {
      canOpen: true,
      remote: false,
      wsl: true,
    });
    const procVersion = 'Linux version 5.15.153.1-microsoft-standard-WSL2 (root@…)';
    assert.equal((browserAvailability(linux({}, { procVersion })) as { wsl: boolean }).wsl, true);
    // Not on a real Linux that merely mentions nothing of the kind.
    assert.equal(
      (
        browserAvailability(linux({}, { procVersion: 'Linux version 6.1.0 (debian)' })) as {
          wsl: boolean;
        }
      ).wsl,
      false,
    );
  });

  it('macOS over SSH opens on the far screen: possible, but remote', () => {
    assert.deepEqual(browserAvailability({ env: SSH, platform: 'darwin', mode: 'auto' }), {
      canOpen: true,
      remote: true,
      wsl: false,
    });
  });
});

describe('choosePath', () => {
  it('SSH_CONNECTION and no display: the device code, saying why', () => {
    assert.deepEqual(choosePath(linux(SSH)), {
      path: 'device',
      reason:
        'Signing in with a device code: this is an SSH session with no display (no DISPLAY, WAYLAND_DISPLAY or $BROWSER).',
    });
  });

  it('… and pasting when the provider has no device flow', () => {
    assert.deepEqual(choosePath(linux(SSH, { deviceUnsupported: true })), {
      path: 'paste',
      reason:
        'Signing in by pasting the address back: this is an SSH session with no display (no DISPLAY, WAYLAND_DISPLAY or $BROWSER), and the provider has no device flow.',
    });
  });

  it('a desktop: the browser, watched for a callback only when it looks remote', () => {
    assert.deepEqual(choosePath(linux({ DISPLAY: ':0' })), {
      path: 'browser',
      reason: 'Signing in with your browser.',
    });
    assert.deepEqual(choosePath(linux({ ...SSH, DISPLAY: 'localhost:10.0' })), {
      path: 'browser',
      reason: 'Signing in with your browser.',
      watchForNoCallback: true,
    });
  });

  it('a browser attempt that failed falls back, naming what happened', () => {
    const failed = choosePath(
      linux(
        { DISPLAY: ':0' },
        { browserFailed: { kind: 'opener_failed', reason: 'spawn xdg-open ENOENT' } },
      ),
    );
    assert.deepEqual(failed, {
      path: 'device',
      reason:
        'Signing in with a device code: the browser could not be opened (spawn xdg-open ENOENT).',
    });
    const late = choosePath(
      linux(SSH, {
        env: { ...SSH, DISPLAY: 'localhost:10.0' },
        browserFailed: { kind: 'no_callback', graceSec: 20 },
        deviceUnsupported: true,
      }),
    );
    assert.equal(late.path, 'paste');
    assert.match(
      late.reason,
      /no browser came back within 20 s and this looks like an SSH session/,
    );
  });

  it('--device and --no-browser force their path even where a browser opens', () => {
    assert.equal(choosePath(linux({ DISPLAY: ':0' }, { force: 'device' })).path, 'device');
    assert.deepEqual(choosePath(linux({ DISPLAY: ':0' }, { force: 'paste' })), {
      path: 'paste',
      reason: 'Signing in by pasting the address back (--no-browser).',
    });
    assert.equal(choosePath(linux(SSH, { mode: 'never' })).path, 'device');
    assert.match(choosePath(linux({}, { mode: 'never' })).reason, /--open is never/);
  });
});
