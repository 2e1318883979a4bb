/**
 * The one way this program writes a file only its user may read: the
 * directory created 0700, the file created 0600 before anything is written to
 * it, and the whole file replaced at once (a new file renamed over the old),
 * so a reader sees the old content or the new, never half of it. Used for the
 * credentials file and the discovery cache.
 */
import { randomBytes } from 'node:crypto';
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
  const temporary = join(directory, `.${name}-${randomBytes(6).toString('hex')}.tmp`);
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
