/**
 * Node 20's cache of the program's compiled code (src/cli/code-cache.ts),
 * on a CommonJS file of the test's own: what V8 makes of a cache that is
 * missing, valid, corrupt or of another build, and that the program runs
 * the same in every case.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, mock } from 'node:test';
import v8 from 'node:v8';
import {
  CACHE_AFTER_MS,
  IMPORT_FUNCTION,
  runCachedScript,
  saveLater,
} from '../src/cli/code-cache.js';

// Each run here stands for a start of the program: V8's in-process cache of compiled scripts
// would otherwise answer a second compile of the same source and hide what the cached data did.
v8.setFlagsFromString('--no-compilation-cache');

interface Program {
  answer: number;
  filename: string;
  dirname: string;
  joined: string;
  double(n: number): number;
  platform(): Promise<string>;
}

const PROGRAM = `
const { join } = require('node:path');
module.exports = {
  answer: 42,
  filename: __filename,
  dirname: __dirname,
  joined: join('a', 'b'),
  double: (n) => n * 2,
  // What the build makes of an import(): Node's own, as an ES module would have it.
  platform: async () => (await ${IMPORT_FUNCTION}('node:os')).default.platform(),
};
`;

function setUp(source = PROGRAM): { file: string; directory: string } {
  const root = mkdtempSync(join(tmpdir(), 'pkce-broker-code-cache-'));
  const file = join(root, 'program.cjs');
  writeFileSync(file, source);
  return { file, directory: join(root, 'cache', 'script') };
}

async function assertRan(program: Program, file: string): Promise<void> {
  assert.equal(program.answer, 42);
  assert.equal(program.filename, file);
  assert.equal(program.dirname, join(file, '..'));
  assert.equal(program.joined, join('a', 'b'));
  assert.equal(program.double(21), 42);
  assert.equal(await program.platform(), process.platform);
}

describe('the compiled-code cache of Node 20', () => {
  it('runs without a cache, saves one, and the next run of the same command is compiled from it', async () => {
    const { file, directory } = setUp();
    const first = runCachedScript<Program>({ file, directory, tag: 'serve' });
    assert.equal(first.cache, 'missing');
    await assertRan(first.exports, file);
    first.save();
    const [saved, ...others] = readdirSync(directory);
    assert.deepEqual(others, []);
    assert.match(saved!, /^program\.cjs-v\d+\.\d+\.\d+-.+@serve\.bin$/);
    // The user's own: no other local user can read or replace what the program then runs.
    assert.equal(statSync(directory).mode & 0o777, 0o700);
    assert.equal(statSync(join(directory, saved!)).mode & 0o777, 0o600);

    const second = runCachedScript<Program>({ file, directory, tag: 'serve' });
    assert.equal(second.cache, 'accepted');
    await assertRan(second.exports, file);
  });

  it('keeps a cache per command, and one for anything that is not a plain word', async () => {
    const { file, directory } = setUp();
    runCachedScript({ file, directory, tag: 'serve' }).save();
    assert.equal(runCachedScript({ file, directory, tag: '--help' }).cache, 'missing');
    runCachedScript({ file, directory, tag: '../../etc/passwd' }).save();
    runCachedScript({ file, directory, tag: undefined }).save();
    assert.deepEqual(
      readdirSync(directory)
        .map((name) => name.replace(/^.*@/, ''))
        .sort(),
      ['other.bin', 'serve.bin'],
    );
    assert.equal(runCachedScript({ file, directory, tag: 'NOT A WORD' }).cache, 'accepted');
  });

  it('compiles afresh over a corrupt cache, and replaces it', async () => {
    const { file, directory } = setUp();
    runCachedScript({ file, directory, tag: 'token' }).save();
    const [name] = readdirSync(directory);
    writeFileSync(join(directory, name!), Buffer.alloc(4096, 7));
    const corrupt = runCachedScript<Program>({ file, directory, tag: 'token' });
    assert.equal(corrupt.cache, 'rejected');
    await assertRan(corrupt.exports, file);
    corrupt.save();
    assert.equal(runCachedScript({ file, directory, tag: 'token' }).cache, 'accepted');
  });

  it('does not run a cache that someone else could have written', async () => {
    const { file, directory } = setUp();
    runCachedScript({ file, directory, tag: 'serve' }).save();
    const [name] = readdirSync(directory);
    chmodSync(join(directory, name!), 0o666);
    const program = runCachedScript<Program>({ file, directory, tag: 'serve' });
    assert.equal(program.cache, 'missing');
    await assertRan(program.exports, file);
    // Made anew, the user's own again.
    program.save();
    assert.equal(statSync(join(directory, name!)).mode & 0o777, 0o600);
    assert.equal(runCachedScript({ file, directory, tag: 'serve' }).cache, 'accepted');
  });

  it('starts a new cache for a new build of the file, and removes those of older builds', async () => {
    const { file, directory } = setUp();
    runCachedScript({ file, directory, tag: 'serve' }).save();
    runCachedScript({ file, directory, tag: 'login' }).save();
    writeFileSync(file, `${PROGRAM}\nmodule.exports.answer = 42;\n`);
    const rebuilt = runCachedScript<Program>({ file, directory, tag: 'serve' });
    assert.equal(rebuilt.cache, 'missing');
    await assertRan(rebuilt.exports, file);
    rebuilt.save();
    assert.deepEqual(
      readdirSync(directory).map((name) => name.replace(/^.*@/, '')),
      ['serve.bin'],
    );
  });

  it('runs the program when the cache cannot be written', async () => {
    const { file, directory } = setUp();
    // A file where the cache directory should be: mkdir fails, as in a read-only home (and, unlike
    // a mode, it stops root too).
    writeFileSync(join(directory, '..'), 'not a directory');
    const program = runCachedScript<Program>({ file, directory, tag: 'serve' });
    assert.equal(program.cache, 'missing');
    await assertRan(program.exports, file);
    assert.doesNotThrow(() => program.save());
  });

  it('saves once the program has run a while, not at once, and only when it has to', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { file, directory } = setUp();
      const program = runCachedScript({ file, directory, tag: 'serve' });
      saveLater(program);
      assert.throws(() => readdirSync(directory), { code: 'ENOENT' });
      mock.timers.tick(CACHE_AFTER_MS);
      assert.equal(readdirSync(directory).length, 1);
      const next = runCachedScript({ file, directory, tag: 'serve' });
      assert.equal(next.cache, 'accepted');
      const saveSpy = mock.method(next, 'save');
      saveLater(next);
      mock.timers.tick(CACHE_AFTER_MS);
      assert.equal(saveSpy.mock.callCount(), 0);
    } finally {
      mock.timers.reset();
    }
  });
});
