/**
 * The credential cache in a real Secret Service: a private D-Bus session
 * (dbus-run-session) with gnome-keyring-daemon unlocked in it, and login,
 * token and status run inside that session, as on a Linux desktop. The
 * keyring's files go to a home of the test's own. Without the two programs
 * the suite says SKIPPED loudly; in CI (CI=true) it fails instead.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scriptedLogin } from '../src/devprovider/login.js';
import type { PKCE } from '../src/protocol/models.js';
import { emptyDir, startCli } from './support/cli.js';
import { startStack, type Stack } from './support/stack.js';

const NEEDED = ['dbus-run-session', 'gnome-keyring-daemon'];

function missingPrograms(): string[] {
  return NEEDED.filter((program) => {
    try {
      execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

const missing = process.platform === 'linux' ? missingPrograms() : NEEDED;
if (missing.length > 0 && process.env.CI !== 'true')
  process.stderr.write(
    `\n*** SKIPPED: the Secret Service suite needs ${missing.join(' and ')} (apt-get install dbus gnome-keyring) ***\n\n`,
  );

/**
 * Runs inside the private session: unlock a fresh keyring, then each step with
 * its output in files of $OUT. "$@" is `node bin/pkce-broker.js`.
 */
const SCRIPT = `set -e
printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
"$@" login --broker "$BROKER" --json > "$OUT/login.out" 2> "$OUT/login.err"
"$@" status > "$OUT/status.out" 2> "$OUT/status.err"
"$@" token > "$OUT/token1.out" 2> "$OUT/token1.err"
"$@" token > "$OUT/token2.out" 2> "$OUT/token2.err"
`;

describe(
  'the credential cache in a real Secret Service',
  { skip: missing.length > 0 && process.env.CI !== 'true' },
  () => {
    let stack: Stack;
    before(async () => {
      assert.deepEqual(
        missing,
        [],
        `CI=true and ${missing.join(', ')} missing: .ci/run installs them`,
      );
      // Tokens live 30 s, less than the minute token wants left: every token run refreshes.
      stack = await startStack({ logLevel: 'warn', provider: { accessTokenTtl: 30 } });
    });
    after(async () => {
      await stack?.close();
    });

    it('login saves in the keychain, token refreshes from it (rotations saved back), status names it', async () => {
      const home = emptyDir();
      const out = emptyDir();
      const configHome = join(home, '.config');
      const run = startCli([], {
        prefix: ['dbus-run-session', '--', 'sh', '-c', SCRIPT, 'sh'],
        env: {
          HOME: home,
          XDG_CONFIG_HOME: configHome,
          XDG_DATA_HOME: join(home, '.local', 'share'),
          BROKER: stack.broker.url,
          OUT: out,
        },
      });
      const { callbackResponse } = await scriptedLogin(await stack.nextAuthorizeUrl());
      assert.equal(callbackResponse.status, 200);
      const result = await run.exited;
      const read = (name: string): Promise<string> => readFile(join(out, name), 'utf8');
      assert.equal(result.code, 0, `${result.stderr}\n${await read('login.err').catch(() => '')}`);

      const token = (JSON.parse(await read('login.out')) as PKCE).auth0!.oAuth.token!;
      assert.match(
        await read('login.err'),
        /\nSession saved in the system keychain \(Secret Service, service "pkce-broker"\): /,
      );
      // Nothing went to the file.
      await assert.rejects(stat(join(configHome, 'pkce-broker', 'credentials.json')), {
        code: 'ENOENT',
      });

      const status = await read('status.out');
      assert.match(status, /^1 session saved:\n/);
      assert.ok(
        status.includes('in the system keychain (Secret Service, service "pkce-broker")\n'),
      );
      for (const secret of [token.access_token, token.refresh_token!, token.id_token!])
        assert.equal(status.includes(secret), false);

      // Each run refreshed: the second with the refresh token the first saved back (oidc-provider
      // rotates it and refuses the spent one).
      const first = (await read('token1.out')).trim();
      const second = (await read('token2.out')).trim();
      assert.equal(await read('token1.err'), '');
      assert.equal(await read('token2.err'), '');
      assert.ok(first.length > 20 && second.length > 20);
      assert.notEqual(first, token.access_token);
      assert.notEqual(second, first);
    });
  },
);
