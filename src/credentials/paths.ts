/**
 * The per-user configuration directory, as each OS has it: $XDG_CONFIG_HOME
 * (else ~/.config) on Linux and the BSDs, ~/Library/Application Support on
 * macOS, %APPDATA% on Windows. The credentials file and the cache's lock live in it.
 * And the per-user cache directory (cacheDirectory): what can be thrown away
 * and made again, kept where no other local user can write.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface PathEnvironment {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  home: string;
}

export function configDirectory(
  { env, platform, home }: PathEnvironment = {
    env: process.env,
    platform: process.platform,
    home: homedir(),
  },
): string {
  if (platform === 'win32')
    return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'pkce-broker');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'pkce-broker');
  // XDG Base Directory: a relative value is invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME;
  return join(
    xdg !== undefined && xdg.startsWith('/') ? xdg : join(home, '.config'),
    'pkce-broker',
  );
}

/**
 * $XDG_CACHE_HOME (else ~/.cache) on Linux and the BSDs, ~/Library/Caches on
 * macOS, %LOCALAPPDATA% on Windows: V8's compiled code of the program and
 * discovery documents. Never the shared temp directory, where another local
 * user could plant what the program then trusts.
 */
export function cacheDirectory(
  { env, platform, home }: PathEnvironment = {
    env: process.env,
    platform: process.platform,
    home: homedir(),
  },
): string {
  if (platform === 'win32')
    return join(env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), 'pkce-broker');
  if (platform === 'darwin') return join(home, 'Library', 'Caches', 'pkce-broker');
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg.startsWith('/') ? xdg : join(home, '.cache'), 'pkce-broker');
}

export const CREDENTIALS_FILE = 'credentials.json';
