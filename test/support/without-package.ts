/**
 * An environment for runCli/startCli in which a package cannot be found, as
 * after `npm install --omit=optional`: a module resolve hook, written here into
 * a fresh directory and loaded by the child with NODE_OPTIONS=--import.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { emptyDir } from './cli.js';

export function withoutPackage(name: string): Record<string, string> {
  const dir = emptyDir();
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `export async function resolve(specifier, context, next) {
  if (specifier === ${JSON.stringify(name)} || specifier.startsWith(${JSON.stringify(`${name}/`)})) {
    const error = new Error(\`Cannot find package '\${specifier}' (hidden by the test)\`);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}
`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  const options = [process.env.NODE_OPTIONS, `--import=${pathToFileURL(register).href}`];
  return { NODE_OPTIONS: options.filter(Boolean).join(' ') };
}
