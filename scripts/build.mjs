#!/usr/bin/env node
/**
 * `npm run build`: dist/ as the package ships it.
 *
 * The program and the library are bundled by esbuild, so that `serve` loads a
 * few files instead of ~170 CommonJS modules one by one: resolving, reading
 * and wrapping each was most of its start-up (a CPU profile, bench/README.md).
 * Entry points: dist/cli/main.js (bin/pkce-broker.js) and dist/index.js (the
 * package's `exports`); commands and what loads on demand stay separate chunks
 * (the command table's lazy imports), so `--help` and `--version` load no HTTP
 * server. Source maps point at src/ (stack traces with --enable-source-maps).
 *
 * `npm test` runs on `npm run build:unbundled` instead (tsc, one file per
 * module): c8 over-reports the coverage of a large esbuild bundle
 * (bcoe/c8#502: lines it never ran count as covered, here broker.ts at 100 %
 * from a suite that never starts a broker), so the suite measures coverage on
 * per-file output, and test/package.test.ts runs this build as it ships.
 *
 * Left out of the bundle, loaded from node_modules when first used: optional
 * and native dependencies, and packages nothing loads before `serve` is ready
 * (the list below). Leaving out one that is on the start-up path would still
 * work, only slower.
 *
 * Then tsc writes the declarations of the library (.d.ts files beside them).
 */
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = (await import('../package.json', { with: { type: 'json' } })).default;

const EXTERNAL = [
  // optional (dev, demo, keychain) and native
  ...Object.keys(pkg.optionalDependencies ?? {}),
  // loaded on demand: browser opener, Redis store, validation, OpenAPI pages, login extras, metrics
  'open',
  'redis',
  'ajv',
  '@fastify/swagger',
  '@fastify/swagger-ui',
  'qrcode',
  'prom-client',
  'proper-lockfile',
  // Fastify's default schema compilers, never required: buildApp gives it ours
  // (src/http/compilers.ts); and inject(), which only tests call.
  '@fastify/ajv-compiler',
  '@fastify/fast-json-stringify-compiler',
  'light-my-request',
];

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

await build({
  absWorkingDir: ROOT,
  entryPoints: {
    'cli/start': 'src/cli/start.ts',
    'cli/main': 'src/cli/main.ts',
    index: 'src/index.ts',
  },
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  sourcemap: true,
  // Maps name the src/ files; the package ships no sources.
  sourcesContent: false,
  // Not minified: start-up measured no faster minified, and stack traces read without a map.
  external: EXTERNAL,
  // The bundled CommonJS dependencies (fastify, pino, …) call require(); an ES module has none.
  banner: {
    js: "import { createRequire as __pkceBrokerCreateRequire } from 'node:module'; const require = __pkceBrokerCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

// The program again as one CommonJS file, for Node 20: the only form whose compiled code it can
// cache between runs (src/cli/code-cache.ts). Same sources, same externals; import.meta.url (a
// path next to the file: package.json, bin/) becomes the file's own URL.
const ONE_FILE = join(ROOT, 'dist', 'cli', 'main.cjs');
await build({
  absWorkingDir: ROOT,
  entryPoints: { 'cli/main': 'src/cli/main.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.19',
  sourcemap: true,
  sourcesContent: false,
  external: EXTERNAL,
  define: { 'import.meta.url': '__pkceBrokerImportMetaUrl' },
  // Without comments the file is ASCII (esbuild escapes the rest): Node reads it into a
  // one-byte string, ~4 ms sooner than the two-byte one a single "—" in a comment makes.
  // Names are kept, for stack traces.
  minifyWhitespace: true,
  banner: {
    js: "const __pkceBrokerImportMetaUrl = require('node:url').pathToFileURL(__filename).href;",
  },
  logLevel: 'warning',
});
routeDynamicImports(ONE_FILE);

writeDeclarations();

/**
 * dist/index.d.ts and what it refers to, from the program rooted at
 * src/index.ts. The Redis store's client type is too large for tsc to write
 * out (TS2742, TS7056); no public type reaches it (the store is loaded on
 * demand, and StartBrokerOptions takes the FlowStore interface), so its
 * declaration faults alone are not fatal.
 */
function writeDeclarations() {
  const configFile = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(configFile.config, ts.sys, ROOT);
  const program = ts.createProgram([join(ROOT, 'src', 'index.ts')], {
    ...parsed.options,
    declaration: true,
    emitDeclarationOnly: true,
    sourceMap: false,
    declarationMap: false,
  });
  const { diagnostics } = program.emit(undefined, (fileName, text) => {
    ts.sys.writeFile(
      fileName,
      fileName.endsWith('/protocol/models.d.ts') ? expandModels(parsed.options, text) : text,
    );
  });
  const fatal = [...ts.getPreEmitDiagnostics(program), ...diagnostics].filter(
    (d) => !(d.file && /[\\/]src[\\/]store[\\/]redis[^\\/]*\.ts$/.test(d.file.fileName)),
  );
  if (fatal.length > 0) {
    process.stderr.write(
      ts.formatDiagnosticsWithColorAndContext(fatal, {
        getCanonicalFileName: (f) => f,
        getCurrentDirectory: () => ROOT,
        getNewLine: () => '\n',
      }),
    );
    process.exit(1);
  }
}

/**
 * A script compiled with cached data (vm.Script) has no import() on Node 20
 * but through an API it calls experimental and warns about; esbuild's
 * alternative, require() with its interop, gets the default export of an
 * ES-module-only package (open, oidc-provider) wrong. So each import() of a
 * package left out of the file calls the function code-cache.ts hands the
 * script under this name instead: Node's own import(), from an ES module.
 * Only esbuild's own output is rewritten (`import("name")` of a left-out
 * name); anything else looking like an import() fails the build.
 */
function routeDynamicImports(file) {
  // code-cache.ts's IMPORT_FUNCTION: test/package.test.ts runs the result on Node 20.
  const IMPORT_FUNCTION = '__pkceBrokerDynamicImport';
  const source = readFileSync(file, 'utf8');
  if (source.includes(IMPORT_FUNCTION)) throw new Error(`${file} already uses ${IMPORT_FUNCTION}`);
  const leftOut = (name) => EXTERNAL.some((pkg) => name === pkg || name.startsWith(`${pkg}/`));
  let routed = 0;
  const out = source.replace(/\bimport\("([^"]+)"\)/g, (call, name) => {
    if (!leftOut(name) && !name.startsWith('node:'))
      throw new Error(`${file}: import("${name}") of a module that is not left out of the bundle`);
    routed++;
    return `${IMPORT_FUNCTION}(${JSON.stringify(name)})`;
  });
  const stray = out.match(/\bimport\(\s*[`"]/);
  if (stray) throw new Error(`${file}: an import() the build cannot route: ${stray[0]}`);
  if (routed === 0) throw new Error(`${file}: no import() found; is the build still esbuild's?`);
  if (/[^\x00-\x7f]/.test(out))
    throw new Error(`${file} is not ASCII (see minifyWhitespace above)`);
  writeFileSync(file, out);
}

/**
 * The wire model types are derived from their schemas with json-schema-to-ts's
 * FromSchema (src/protocol/models.ts), a devDependency: a user of the package
 * would have the types only with it installed. So their declarations are
 * written out as the object types tsc resolves them to — from the same
 * schemas, at build time.
 */
function expandModels(options, text) {
  // A program of its own: resolving every model in full is deep work for the checker (TS2589
  // on the way), and its verdicts are not about the code the build checks.
  const program = ts.createProgram([join(ROOT, 'src', 'protocol', 'models.ts')], options);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(join(ROOT, 'src', 'protocol', 'models.ts'));
  const expanded = new Map();
  for (const statement of source.statements) {
    if (ts.isTypeAliasDeclaration(statement))
      expanded.set(
        statement.name.text,
        checker.typeToString(
          checker.getTypeAtLocation(statement.name),
          undefined,
          ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.InTypeAlias,
        ),
      );
  }
  const out = text
    .replace(/^import type \{[^}]*\} from 'json-schema-to-ts';\n/m, '')
    .replace(/^type Model<[\s\S]*?\n\}>;\n/m, '')
    .replace(/^export type (\w+) = Model<typeof \w+>;$/gm, (line, name) =>
      expanded.has(name) ? `export type ${name} = ${expanded.get(name)};` : line,
    );
  if (/json-schema-to-ts|\bModel</.test(out.replace(/\/\*\*[\s\S]*?\*\//g, '')))
    throw new Error('dist/protocol/models.d.ts still refers to json-schema-to-ts');
  return out;
}
