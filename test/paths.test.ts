import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cacheDirectory, configDirectory } from '../src/credentials/paths.js';

const home = '/home/ada';

test('configDirectory: XDG_CONFIG_HOME when absolute, ~/.config otherwise, the OS places elsewhere', () => {
  const linux = (env: NodeJS.ProcessEnv) => configDirectory({ env, platform: 'linux', home });
  assert.equal(linux({ XDG_CONFIG_HOME: '/xdg/config' }), '/xdg/config/pkce-broker');
  assert.equal(linux({ XDG_CONFIG_HOME: 'relative' }), '/home/ada/.config/pkce-broker');
  assert.equal(linux({}), '/home/ada/.config/pkce-broker');
  assert.equal(
    configDirectory({ env: {}, platform: 'darwin', home }),
    '/home/ada/Library/Application Support/pkce-broker',
  );
});

test('cacheDirectory: XDG_CACHE_HOME when absolute, ~/.cache otherwise, the OS places elsewhere', () => {
  const linux = (env: NodeJS.ProcessEnv) => cacheDirectory({ env, platform: 'linux', home });
  assert.equal(linux({ XDG_CACHE_HOME: '/xdg/cache' }), '/xdg/cache/pkce-broker');
  // XDG Base Directory: a relative value is invalid and ignored, never resolved against the cwd.
  assert.equal(linux({ XDG_CACHE_HOME: 'cache' }), '/home/ada/.cache/pkce-broker');
  assert.equal(linux({}), '/home/ada/.cache/pkce-broker');
  assert.equal(
    cacheDirectory({ env: {}, platform: 'darwin', home }),
    '/home/ada/Library/Caches/pkce-broker',
  );
  assert.match(
    cacheDirectory({
      env: { LOCALAPPDATA: 'C:\\Users\\ada\\AppData\\Local' },
      platform: 'win32',
      home,
    }),
    /AppData.Local.pkce-broker$/,
  );
});
