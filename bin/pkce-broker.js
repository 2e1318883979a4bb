#!/usr/bin/env node
import module from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

// Node 22.1+ keeps V8's compiled code of the program between runs, which takes the
// parse and compile of dist/ off every start (Node 20 has no such cache: a no-op).
// In the user's own cache directory, not the shared temp directory Node defaults
// to, where another local user could plant code. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
module.enableCompileCache?.(
  join(
    process.env.XDG_CACHE_HOME ??
      (process.platform === 'win32'
        ? (process.env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'))
        : join(homedir(), '.cache')),
    'pkce-broker',
    'v8',
  ),
);

const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
