/**
 * The one way this program writes a file only its user may read: the
 * directory created 0700, the file created 0600 before anything is written to
 * it, and the whole file replaced at once (a new file renamed over the old),
 * so a reader sees the old content or the new, never half of it. Used for the
 * credentials file, the discovery cache and (synchronously, at exit) Node 20's
 * cache of compiled code.
 *
 * And the one way it reads back what it kept and then trusts (discovery
 * documents, compiled code): only a plain file of this user's that no one
 * else may write; another local user could otherwise plant what it runs or
 * where it sends people.
 */
import {
  chmodSync,
  closeSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { chmod, mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export async function writePrivateFileAtomically(
  directory: string,
  name: string,
  text: string,
): Promise<void> {
  const created = await mkdir(directory, { recursive: true, mode: 0o700 });
  // mkdir's mode passes through the umask; the directory we made is ours alone whatever it is.
  if (created !== undefined) await chmod(directory, 0o700);
  const temporary = temporaryName(directory, name);
  // 'wx': a new file, created 0600 before anything is written to it.
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    await rename(temporary, join(directory, name));
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

/** writePrivateFileAtomically for where nothing can be awaited (an exit handler). */
export function writePrivateFileAtomicallySync(
  directory: string,
  name: string,
  data: string | Uint8Array,
): void {
  const created = mkdirSync(directory, { recursive: true, mode: 0o700 });
  if (created !== undefined) chmodSync(directory, 0o700);
  const temporary = temporaryName(directory, name);
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    removeQuietly(temporary);
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temporary, join(directory, name));
  } catch (error) {
    removeQuietly(temporary);
    throw error;
  }
}

let written = 0;

/**
 * Unique to this process and write: 'wx' refuses a name that exists, and the
 * directory is the user's alone, so it need not be unguessable (and node:crypto
 * stays unloaded where Node 20's code cache reads through here before the program runs).
 */
function temporaryName(directory: string, name: string): string {
  return join(directory, `.${name}-${process.pid}-${++written}.tmp`);
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // The error that matters is the one being thrown.
  }
}

/**
 * The text of a file this program kept, undefined where there is none;
 * throws (with the reason) for one it must not trust (refuseUntrusted) or
 * larger than `maxBytes`.
 */
export async function readOwnFile(path: string, maxBytes: number): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    // The file opened, not whatever the path names a moment later.
    refuseUntrusted(await handle.stat(), maxBytes);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** readOwnFile's bytes, synchronously (before the program it holds the code of can run). */
export function readOwnFileSync(path: string, maxBytes: number): Buffer | undefined {
  let fd;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    refuseUntrusted(fstatSync(fd), maxBytes);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

function refuseUntrusted(stat: Stats, maxBytes: number): void {
  if (!stat.isFile()) throw new Error('not a file');
  // Windows has no such mode bits; there the file inherits the profile directory's ACL.
  if (process.platform !== 'win32') {
    if (stat.uid !== process.getuid?.()) throw new Error('another user owns it');
    if ((stat.mode & 0o022) !== 0) throw new Error('others may write it');
  }
  if (stat.size > maxBytes) throw new Error('too large');
}
