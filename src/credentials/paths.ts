/**
 * The per-user directories, as each OS has them. Configuration: $XDG_CONFIG_HOME
 * (else ~/.config) on Linux and the BSDs, ~/Library/Application Support on
 * macOS, %APPDATA% on Windows; the credentials file and the cache's lock live
 * in it. Cache: $XDG_CACHE_HOME (else ~/.cache), ~/Library/Caches, %LOCALAPPDATA%.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface PathEnvironment {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  home: string;
}

/** Where one kind of per-user directory is on each OS: an environment variable, else under home. */
interface Place {
  windows: readonly [variable: string, fallback: readonly string[]];
  macos: readonly string[];
  xdg: readonly [variable: string, fallback: string];
}

const CONFIG: Place = {
  windows: ['APPDATA', ['AppData', 'Roaming']],
  macos: ['Library', 'Application Support'],
  xdg: ['XDG_CONFIG_HOME', '.config'],
};

/**
 * What can be thrown away and made again (V8's compiled code of the program,
 * discovery documents). Never the shared temp directory, where another local
 * user could plant what the program then trusts.
 */
const CACHE: Place = {
  windows: ['LOCALAPPDATA', ['AppData', 'Local']],
  macos: ['Library', 'Caches'],
  xdg: ['XDG_CACHE_HOME', '.cache'],
};

function directoryOf(
  place: Place,
  { env, platform, home }: PathEnvironment = {
    env: process.env,
    platform: process.platform,
    home: homedir(),
  },
): string {
  if (platform === 'win32') {
    const [variable, fallback] = place.windows;
    return join(env[variable] ?? join(home, ...fallback), 'pkce-broker');
  }
  if (platform === 'darwin') return join(home, ...place.macos, 'pkce-broker');
  // XDG Base Directory: a relative value is invalid and must be ignored.
  const [variable, fallback] = place.xdg;
  const xdg = env[variable];
  return join(xdg !== undefined && xdg.startsWith('/') ? xdg : join(home, fallback), 'pkce-broker');
}

export function configDirectory(environment?: PathEnvironment): string {
  return directoryOf(CONFIG, environment);
}

export function cacheDirectory(environment?: PathEnvironment): string {
  return directoryOf(CACHE, environment);
}

export const CREDENTIALS_FILE = 'credentials.json';
