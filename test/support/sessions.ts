/**
 * For the credential-cache suites: `pkce-broker login` through a stack's
 * broker as a child process, with a config directory of the test's own (and
 * no session bus, so nothing reaches the keychain of whoever runs the tests),
 * the scripted browser following the URL the broker opens.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scriptedLogin } from '../../src/devprovider/login.js';
import type { PKCE } from '../../src/protocol/models.js';
import { emptyDir, startCli, type CliResult } from './cli.js';
import type { Stack } from './stack.js';

export interface CacheHome {
  /** XDG_CONFIG_HOME of the child processes. */
  configHome: string;
  /** Where the file backend keeps sessions. */
  file: string;
  env: Record<string, string>;
}

export function cacheHome(): CacheHome {
  const configHome = emptyDir();
  return {
    configHome,
    file: join(configHome, 'pkce-broker', 'credentials.json'),
    env: {
      XDG_CONFIG_HOME: configHome,
      // A bus that is not there: the keychain probe fails fast, whatever the machine has.
      DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(configHome, 'no-bus')}`,
    },
  };
}

export interface LoginRun extends CliResult {
  answer: PKCE;
}

export async function loginThrough(
  stack: Stack,
  home: CacheHome,
  args: readonly string[] = ['--credential-store', 'file'],
): Promise<LoginRun> {
  const login = startCli(['login', '--broker', stack.broker.url, '--json', ...args], {
    env: home.env,
  });
  const { callbackResponse } = await scriptedLogin(await stack.nextAuthorizeUrl());
  await callbackResponse.body?.cancel();
  const result = await login.exited;
  if (result.code !== 0) throw new Error(`login failed (${result.code}): ${result.stderr}`);
  return { ...result, answer: JSON.parse(result.stdout) as PKCE };
}

interface SavedFile {
  version: number;
  sessions: Array<Record<string, unknown>>;
}

export async function readSaved(home: CacheHome): Promise<SavedFile> {
  return JSON.parse(await readFile(home.file, 'utf8')) as SavedFile;
}

/** Rewrites the saved sessions in place (the file keeps its mode). */
export async function editSaved(
  home: CacheHome,
  edit: (sessions: SavedFile['sessions']) => SavedFile['sessions'],
): Promise<void> {
  const saved = await readSaved(home);
  await writeFile(home.file, JSON.stringify({ ...saved, sessions: edit(saved.sessions) }));
}

/** As if the saved access token had run out: the next `token` must refresh. */
export function expireAccessTokens(home: CacheHome): Promise<void> {
  return editSaved(home, (sessions) =>
    sessions.map((s) => ({ ...s, accessTokenExpiresAt: Date.now() - 1000 })),
  );
}
