/**
 * The credential cache with its file backend: what `login` saves and where,
 * how the file is protected (0700 directory, 0600 file, a too-open file
 * refused), `status` (never a token), and the session record's parsing.
 */
import assert from 'node:assert/strict';
import { chmod, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CredentialBackend } from '../src/credentials/backend.js';
import { CredentialCache } from '../src/credentials/cache.js';
import { FileBackend } from '../src/credentials/file-backend.js';
import { parseSession, serialiseSession, type StoredSession } from '../src/credentials/session.js';
import { emptyDir, runCli } from './support/cli.js';
import { cacheHome, loginThrough, readSaved } from './support/sessions.js';
import { startStack, type Stack } from './support/stack.js';

const SESSION: StoredSession = {
  providerId: 'default',
  issuer: 'http://127.0.0.1:1',
  clientId: 'client',
  subject: 'alice',
  scopes: ['openid'],
  accessToken: 'access-1',
  accessTokenExpiresAt: 2_000_000_000_000,
  refreshToken: 'refresh-1',
  savedAt: 1_700_000_000_000,
};

describe('the credentials file', () => {
  it('is created 0600 in a 0700 directory, replaced whole, one session per account', async () => {
    const dir = join(emptyDir(), 'pkce-broker');
    const backend = new FileBackend(dir, 'credentials.json');
    assert.deepEqual(await backend.list(), []);
    await backend.put(SESSION);
    await backend.put({ ...SESSION, subject: 'bob' });
    await backend.put({ ...SESSION, accessToken: 'access-2' });
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(backend.where)).mode & 0o777, 0o600);
    const listed = await backend.list();
    assert.deepEqual(
      listed.map((s) => [s.subject, s.accessToken]),
      [
        ['bob', 'access-1'],
        ['alice', 'access-2'],
      ],
    );
    // Written beside and renamed over: no temporary file is left behind.
    assert.deepEqual(await readdir(dir), ['credentials.json']);
    assert.equal(await backend.delete(SESSION), true);
    assert.equal(await backend.delete(SESSION), false);
    assert.deepEqual(
      (await backend.list()).map((s) => s.subject),
      ['bob'],
    );
  });

  it('is refused, with the fix in one line, when other users may read it', async () => {
    const dir = join(emptyDir(), 'pkce-broker');
    const backend = new FileBackend(dir, 'credentials.json');
    await backend.put(SESSION);
    await chmod(backend.where, 0o644);
    await assert.rejects(backend.list(), (error: Error) => {
      assert.equal(
        error.message,
        `${backend.where} is open to other users (mode 0644), so its tokens are not used: run \`chmod 600 ${backend.where}\` (or sign in again after deleting it).`,
      );
      return true;
    });
    // Writing does not quietly repair it either: a write reads the sessions first.
    await assert.rejects(backend.put({ ...SESSION, subject: 'bob' }));
  });

  it('reads back what it wrote and nothing else', () => {
    assert.deepEqual(parseSession(serialiseSession(SESSION)), SESSION);
    assert.equal(parseSession('not json'), undefined);
    assert.equal(parseSession({ ...SESSION }), undefined, 'no version: not ours');
    const record = JSON.parse(serialiseSession(SESSION)) as Record<string, unknown>;
    assert.equal(parseSession({ ...record, scopes: 'openid' }), undefined);
    assert.equal(parseSession({ ...record, accessToken: '' }), undefined);
    assert.equal(parseSession({ ...record, version: 2 }), undefined);
  });
});

describe('the cache over two backends', () => {
  /** A keychain that answers reads and refuses writes, as a locked one does. */
  function lockedKeychain(held: StoredSession[]): CredentialBackend {
    return {
      kind: 'keychain',
      where: 'the test keychain',
      list: async () => held,
      put: async () => {
        throw new Error('The system keychain failed: unlock prompt was dismissed');
      },
      delete: async () => false,
    };
  }

  it('saves where the preferred one refuses in the next, saying so once, and reads both', async () => {
    const dir = join(emptyDir(), 'pkce-broker');
    const file = new FileBackend(dir, 'credentials.json');
    const notes: string[] = [];
    const cache = new CredentialCache({
      backends: [lockedKeychain([{ ...SESSION, subject: 'carol' }]), file],
      directory: dir,
      note: (line) => notes.push(line),
    });
    const saved = await cache.save(SESSION);
    await cache.save({ ...SESSION, subject: 'bob' });
    assert.equal(saved.store, 'file');
    assert.equal(notes.length, 1);
    assert.ok(
      notes[0]!.startsWith(
        'The system keychain failed: unlock prompt was dismissed; the session of alice',
      ),
    );
    assert.ok(notes[0]!.endsWith(`is saved in ${file.where} instead.`));
    assert.deepEqual(
      (await cache.list()).map(({ session, store }) => [session.subject, store]),
      [
        ['carol', 'keychain'],
        ['alice', 'file'],
        ['bob', 'file'],
      ],
    );
    // A refreshed session goes back where it was, and only there.
    await assert.rejects(cache.save(SESSION, 'keychain'), /unlock prompt was dismissed/);
  });
});

describe('pkce-broker login saves the session (file backend)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ logLevel: 'warn' });
  });
  after(async () => {
    await stack.close();
  });

  it('saves it where there is no keychain, saying so once, and status shows it without a token', async () => {
    const home = cacheHome();
    // auto, and the probe finds no keychain (no session bus).
    const login = await loginThrough(stack, home, []);
    const notes = login.stderr.split('\n').filter((line) => line.startsWith('Session saved'));
    assert.equal(notes.length, 1, login.stderr);
    assert.ok(notes[0]!.startsWith(`Session saved in ${home.file} (no system keychain here: `));
    assert.equal((await stat(home.file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(home.configHome, 'pkce-broker'))).mode & 0o777, 0o700);

    const token = login.answer.auth0!.oAuth.token!;
    const saved = (await readSaved(home)).sessions;
    assert.equal(saved.length, 1);
    assert.equal(saved[0]!.subject, stack.devProvider.user.sub);
    assert.equal(saved[0]!.issuer, stack.devProvider.issuer);
    assert.equal(saved[0]!.accessToken, token.access_token);
    assert.equal(saved[0]!.refreshToken, token.refresh_token);

    const status = await runCli(['status'], { env: home.env });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^1 session saved:\n/);
    assert.ok(status.stdout.includes(`  subject        ${stack.devProvider.user.sub}\n`));
    assert.ok(status.stdout.includes('  name           Demo User <demo@example.com>\n'));
    assert.match(status.stdout, /\n {2}scopes {9}openid[ a-z_]*offline_access/);
    assert.match(status.stdout, /\n {2}access token {3}expires in 60 min \(/);
    assert.ok(status.stdout.includes(`in ${home.file}\n`));
    const output = status.stdout + status.stderr;
    for (const secret of [token.access_token, token.refresh_token!, token.id_token!]) {
      assert.equal(output.includes(secret), false, 'no token, whole');
      assert.equal(output.includes(secret.slice(0, 8)), false, 'nor shortened');
    }
  });

  it('saves the same account once, the newer session replacing the older', async () => {
    const home = cacheHome();
    await loginThrough(stack, home);
    const second = await loginThrough(stack, home);
    const saved = (await readSaved(home)).sessions;
    assert.equal(saved.length, 1);
    assert.equal(saved[0]!.accessToken, second.answer.auth0!.oAuth.token!.access_token);
  });

  it('--no-save keeps nothing', async () => {
    const home = cacheHome();
    const login = await loginThrough(stack, home, ['--no-save']);
    assert.equal(login.stderr.includes('Session saved'), false);
    await assert.rejects(stat(home.file), { code: 'ENOENT' });
    const status = await runCli(['status'], { env: home.env });
    assert.equal(status.code, 1);
    assert.match(status.stdout, /^Not signed in \(looked in .*\): run pkce-broker login\.\n$/);
  });

  it('a too-open credentials file stops token and status with the fix, exit 2', async () => {
    const home = cacheHome();
    await loginThrough(stack, home);
    await chmod(home.file, 0o640);
    for (const command of ['token', 'status']) {
      const run = await runCli([command], { env: home.env });
      assert.equal(run.code, 2);
      assert.equal(run.stdout, '');
      assert.equal(
        run.stderr,
        `pkce-broker ${command}: ${home.file} is open to other users (mode 0640), so its tokens are not used: run \`chmod 600 ${home.file}\` (or sign in again after deleting it).\n`,
      );
    }
  });
});
