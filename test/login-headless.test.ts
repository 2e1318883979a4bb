/**
 * `pkce-broker login` where no browser reaches the broker (issue 12, tests e
 * and f), run in a pseudo-terminal against the bundled provider: with
 * --no-browser the person opens the URL elsewhere (the scripted login, which
 * stops at the redirect as a browser on another machine would) and pastes the
 * address back; a bad paste says why and asks again; Ctrl-C at the prompt
 * cancels. In an SSH session without a display, login chooses by itself and
 * says why: here the paste, since this provider has no device flow (the
 * device path: test/login-device.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { scriptedRedirect } from '../src/devprovider/login.js';
import { startDevProvider } from '../src/devprovider/provider.js';
import { startCli, type CliProcess } from './support/cli.js';
import { startStack, type Stack } from './support/stack.js';

// readline on a terminal follows the prompt with cursor moves: no `$`.
const PROMPT = /Paste the address your browser ended on \(or the code\): /;

/** The sign-in URL login printed (a terminal ends lines with \r\n). */
async function shownUrl(login: CliProcess): Promise<URL> {
  const [, href] = await login.waitFor('stdout', /and sign in:\r?\n {2}(http\S+)\r?\n/);
  return new URL(href!);
}

/** The lines of login's "Signing in …" announcements, as a person sees them (redraws and escapes applied). */
function announced(login: CliProcess): string[] {
  return login
    .stdout()
    .split('\n')
    .map(
      (line) =>
        line
          .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
          .split('\r')
          .filter(Boolean)
          .pop() ?? '',
    )
    .filter((line) => line.startsWith('Signing in'));
}

/** Resolves once login asks again after its first refusal. */
function askedAgain(login: CliProcess, why: RegExp): Promise<unknown> {
  return login.waitFor(
    'stdout',
    new RegExp(`${why.source}.* Try again \\(2 left\\)\\.\\r?\\n[\\s\\S]*${PROMPT.source}`),
  );
}

describe('pkce-broker login in a terminal with no browser', () => {
  let stack: Stack;
  before(async () => {
    // No device flow: where login chooses, the paste is what is left.
    stack = await startStack({ provider: { deviceFlow: false }, logLevel: 'warn' });
  });
  after(async () => {
    await stack.close();
  });

  it('--no-browser: a bad paste says why and asks again, the real address signs in', async () => {
    const login = startCli(['login', '--broker', stack.broker.url, '--no-browser'], {
      pty: true,
    });
    try {
      const url = await shownUrl(login);
      // A flow of its own, answered in the query: the browser's address carries the answer.
      assert.equal(url.searchParams.get('response_mode'), 'query');
      await login.waitFor('stdout', PROMPT);
      assert.match(login.stdout(), /Signing in by pasting the address back \(--no-browser\)\./);

      login.write('http://127.0.0.1:1000/pkce/response/code?state=nothing-else\r');
      await askedAgain(login, /has no code in it/);
      assert.equal(await stack.broker.store.size(), 1, 'the bad paste left the flow waiting');

      // Signed in elsewhere: the browser stops at the broker's address, which does not load there.
      const landed = await scriptedRedirect(url);
      assert.equal(landed.searchParams.get('state'), url.searchParams.get('state'));
      // Pasted as a terminal gets it: wrapped in quotes, with a stray space.
      login.write(`  "${landed.href}"\r`);
      const { code, stdout } = await login.exited;
      assert.equal(code, 0, stdout);
      assert.match(stdout, /Signed in as Demo User in \d+\.\d s\./);
      assert.equal(await stack.broker.store.size(), 0);
    } finally {
      login.child.kill();
    }
  });

  it('a paste of another sign-in’s address is refused before it reaches the broker', async () => {
    const login = startCli(['login', '--broker', stack.broker.url, '--no-browser'], {
      pty: true,
    });
    try {
      const url = await shownUrl(login);
      await login.waitFor('stdout', PROMPT);
      const landed = await scriptedRedirect(url);
      const forged = new URL(landed);
      forged.searchParams.set('state', 'a-state-of-some-other-flow');
      login.write(`${forged.href}\r`);
      await askedAgain(login, /belongs to another sign-in/);
      login.write(`${landed.href}\r`);
      const { code, stdout } = await login.exited;
      assert.equal(code, 0, stdout);
      assert.match(stdout, /Signed in as Demo User/);
    } finally {
      login.child.kill();
    }
  });

  it('Ctrl-C at the prompt cancels: exit 130, and the broker forgets the flow', async () => {
    const login = startCli(['login', '--broker', stack.broker.url, '--no-browser'], {
      pty: true,
    });
    try {
      const state = (await shownUrl(login)).searchParams.get('state')!;
      await login.waitFor('stdout', PROMPT);
      const forgotten = stack.broker.store.waitForOutcome(state, new AbortController().signal);
      login.write('\x03');
      const { code, stdout } = await login.exited;
      assert.equal(code, 130, stdout);
      assert.match(stdout, /pkce-broker login: cancelled; the broker has forgotten this sign-in\./);
      assert.deepEqual(await forgotten, { kind: 'gone' });
    } finally {
      login.child.kill();
    }
  });

  it('an SSH session without a display: login chooses by itself, says why, and the paste signs in', async () => {
    const login = startCli(['login', '--broker', stack.broker.url], {
      pty: true,
      env: { SSH_CONNECTION: '10.0.0.2 51234 10.0.0.1 22', SSH_TTY: '/dev/pts/7' },
    });
    try {
      const url = await shownUrl(login);
      await login.waitFor('stdout', PROMPT);
      // One line, naming the reason; this provider has no device flow, so it is the paste.
      const lines = announced(login);
      assert.deepEqual(lines, [
        'Signing in by pasting the address back: this is an SSH session with no display (no DISPLAY, WAYLAND_DISPLAY or $BROWSER), and the provider has no device flow.',
      ]);
      assert.equal(url.searchParams.get('response_mode'), 'query');
      login.write(`${(await scriptedRedirect(url)).href}\r`);
      const { code, stdout } = await login.exited;
      assert.equal(code, 0, stdout);
      assert.match(stdout, /Signed in as Demo User/);
    } finally {
      login.child.kill();
    }
  });
});

describe('pkce-broker login with a broker of its own whose opener fails', () => {
  it('falls back from the browser, says why in one line, and the paste signs in', async () => {
    const provider = await startDevProvider({ deviceFlow: false });
    const login = startCli(
      [
        'login',
        '--issuer',
        provider.issuer,
        '--client-id',
        provider.clientId,
        '--port',
        '0',
        '--par',
        'never',
        '--open',
        '/nonexistent/browser',
      ],
      { pty: true, env: { DISPLAY: ':0' } },
    );
    try {
      const url = await shownUrl(login);
      await login.waitFor('stdout', PROMPT);
      const lines = announced(login);
      assert.deepEqual(lines, [
        'Signing in by pasting the address back: the browser could not be opened (spawn /nonexistent/browser ENOENT), and the provider has no device flow.',
      ]);
      provider.setRedirectUris([url.searchParams.get('redirect_uri')!]);
      login.write(`${(await scriptedRedirect(url)).href}\r`);
      const { code, stdout } = await login.exited;
      assert.equal(code, 0, stdout);
      assert.match(stdout, /Signed in as Demo User/);
    } finally {
      login.child.kill();
      await provider.close();
    }
  });
});
