/**
 * V8's compiled code of the program kept between runs on Node 20, which has
 * no module.enableCompileCache (22.1+): without it every start parses and
 * compiles the whole program again, ~60 ms of `serve`'s start-up
 * (bench/README.md, "Start-up"). Hand-written because Node 20 takes cached data
 * only through vm.Script, and the one package that does this
 * (v8-compile-cache) hooks every require(), keeps its files in the shared
 * temp directory, and makes its cache at compile time, before the code that
 * runs at start-up has been compiled at all.
 *
 * So the program is one CommonJS file (dist/cli/main.cjs, scripts/build.mjs),
 * compiled here with the cache of the last run of the same command, and the
 * cache is made after the program has run a while (CACHE_AFTER_MS, or at exit
 * if sooner), when it holds what start-up compiled. V8 refuses data made by
 * another V8, but tells sources apart only by length: the cache file's name
 * carries the file's size and mtime too (stampOf). A refused or missing cache
 * is made anew.
 */
import { createRequire } from 'node:module';
import { readFileSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import vm from 'node:vm';
import { readOwnFileSync, writePrivateFileAtomicallySync } from '../private-file.js';

/**
 * What the one-file build calls for import() (scripts/build.mjs rewrites each
 * to it): a vm.Script has no import() on Node 20 without an experimental API.
 */
export const IMPORT_FUNCTION = '__pkceBrokerDynamicImport';

/** Far above any cache of the program (~1 MB for `serve`). */
const MAX_CACHE_BYTES = 64 * 1024 * 1024;

/** Long enough for `serve` to be listening; a one-shot command exits sooner and saves at exit. */
export const CACHE_AFTER_MS = 1_000;

export interface CachedScript<T> {
  /** The module's exports. */
  exports: T;
  /** What V8 made of the cache read: `missing`, `accepted`, or `rejected` (made anew later). */
  cache: 'missing' | 'accepted' | 'rejected';
  /** Writes the cache now, if this run needs to (missing or rejected); later calls do nothing. */
  save(): void;
}

export interface CachedScriptOptions {
  /** The CommonJS file to run. */
  file: string;
  /** Where the cache files live (created 0700). */
  directory: string;
  /**
   * What this run does (the command): each gets a cache of its own, holding
   * what it compiles, since a cache is read whole (a `serve` cache would make
   * `--help` slower). Anything but a plain word shares one.
   */
  tag: string | undefined;
}

/**
 * Runs `file` as Node's CommonJS loader would (module, exports, require,
 * __filename, __dirname; import() through IMPORT_FUNCTION), with the
 * compiled code of an earlier run when there is one. Any trouble with the
 * cache itself only costs the compile: the program runs regardless.
 */
export function runCachedScript<T>({ file, directory, tag }: CachedScriptOptions): CachedScript<T> {
  const source = readFileSync(file, 'utf8');
  const stamp = stampOf(file);
  const cacheFile = join(directory, `${stamp}@${safeTag(tag)}.bin`);
  const cachedData = readOrUndefined(cacheFile);
  // Node's CommonJS wrapper (Module.wrap), on the same line as the first of the file, plus import().
  const wrapped = `(function (exports, require, module, __filename, __dirname, ${IMPORT_FUNCTION}) { ${source}\n});`;
  const script = new vm.Script(wrapped, {
    filename: file,
    ...(cachedData !== undefined && { cachedData }),
  });
  const cache =
    cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'accepted';
  const module = { exports: {} as T, filename: file, id: file, loaded: false };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  const importModule = (specifier: string): Promise<unknown> => import(specifier);
  run.call(
    module.exports,
    module.exports,
    createRequire(file),
    module,
    file,
    dirname(file),
    importModule,
  );
  module.loaded = true;

  let saved = cache === 'accepted';
  const save = (): void => {
    if (saved) return;
    saved = true;
    writeCache(directory, stamp, cacheFile, script.createCachedData());
  };
  return { exports: module.exports, cache, save };
}

/** Saves after CACHE_AFTER_MS or at exit, whichever comes first; never keeps the process alive. */
export function saveLater(cached: CachedScript<unknown>): void {
  if (cached.cache === 'accepted') return;
  const timer = setTimeout(cached.save, CACHE_AFTER_MS);
  timer.unref();
  process.once('exit', () => {
    clearTimeout(timer);
    cached.save();
  });
}

/**
 * Names this build of the file for this Node (no `@`: it ends the stamp in a file name): a new install or another Node
 * (nvm) starts a cache of its own instead of having V8 refuse the old one on
 * every start. V8 checks the data regardless; this only spares a refusal.
 */
function stampOf(file: string): string {
  const { size, mtimeMs } = statSync(file);
  return [basename(file), process.version, process.arch, size, Math.trunc(mtimeMs)].join('-');
}

function safeTag(tag: string | undefined): string {
  return tag !== undefined && /^-{0,2}[a-z][a-z-]{0,23}$/.test(tag) ? tag : 'other';
}

/** A cache is code the program runs: only a file of the user's own that no one else can write. */
function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readOwnFileSync(path, MAX_CACHE_BYTES);
  } catch {
    return undefined;
  }
}

/**
 * Whole (private-file.ts), so a run starting meanwhile reads a whole cache or
 * none; the caches of other builds and Nodes are removed, so upgrades do not
 * pile them up. A read-only home only costs the compile.
 */
function writeCache(directory: string, stamp: string, cacheFile: string, data: Buffer): void {
  try {
    writePrivateFileAtomicallySync(directory, basename(cacheFile), data);
    for (const name of readdirSync(directory)) {
      if (name.endsWith('.bin') && !name.startsWith(`${stamp}@`)) unlinkSync(join(directory, name));
    }
  } catch {
    // Nothing to tell: the next run compiles again and tries again.
  }
}
