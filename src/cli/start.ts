/**
 * What bin/pkce-broker.js runs: main, with V8's compiled code of the program
 * kept between runs, so that a start does not parse and compile it all again
 * (~60 ms of `serve`'s start-up on Node 20). Node 22.1+ does this itself
 * (module.enableCompileCache) for the ES modules of dist/; Node 20 cannot for
 * ES modules, so there it runs the same program built as one CommonJS file
 * through code-cache.ts. Both caches live in the user's own cache directory,
 * not the shared temp directory Node defaults to, where another local user
 * could plant code. NODE_DISABLE_COMPILE_CACHE=1 turns either off.
 */
import { existsSync } from 'node:fs';
import module from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDirectory } from '../credentials/paths.js';

type Main = (argv: readonly string[]) => Promise<number>;

export async function start(argv: readonly string[]): Promise<number> {
  const main = await loadMain(argv[0]);
  return main(argv);
}

async function loadMain(command: string | undefined): Promise<Main> {
  const directory = join(cacheDirectory(), 'v8');
  // Node 22.1+; @types/node of Node 20 does not know it.
  const { enableCompileCache } = module as { enableCompileCache?: (directory: string) => unknown };
  if (enableCompileCache !== undefined) {
    enableCompileCache(directory);
    return (await import('./main.js')).main;
  }
  // Only `npm run build` writes it; the per-file build the tests measure coverage on has none.
  // With --enable-source-maps, the ES modules: Node 20 maps no stack trace of a vm.Script.
  const oneFile = fileURLToPath(new URL('./main.cjs', import.meta.url));
  if (
    !process.env.NODE_DISABLE_COMPILE_CACHE &&
    !process.sourceMapsEnabled &&
    existsSync(oneFile)
  ) {
    const { runCachedScript, saveLater } = await import('./code-cache.js');
    const program = runCachedScript<{ main: Main }>({
      file: oneFile,
      directory: join(directory, 'script'),
      tag: command,
    });
    saveLater(program);
    return program.exports.main;
  }
  return (await import('./main.js')).main;
}
