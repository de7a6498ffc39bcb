// Build step (run after tsc and compile-schema by `npm run build`): bundles the compiled CLI
// (dist/src/cli.js and everything it imports from dist/src/) with esbuild into one CommonJS file,
// dist/bundle/cli.cjs, which is what bin/cert-renew runs (through a V8 code cache, see bin/cert-renew), and
// the manifest's checks into a second one beside it, dist/bundle/checks.cjs (CHECKS_ENTRY below).
// Loading code is nearly all of a nothing-due run: one file read and compiled from a cache costs a fraction of
// resolving, reading and compiling ~50 modules.
//
// - No chunks: every `await import()` of our own modules becomes a lazily run initialiser inside the file
//   (esbuild's `__esm` wrappers), so a command's module still runs only when that command does. Packages
//   in node_modules stay external (but commander, which every command loads, and chalk, which the coloured
//   reports load), so acme-client, ioredis and @peculiar/x509 keep loading lazily, from node_modules.
// - A module's `import.meta.url` is rewritten to the URL of the same module under dist/src/, computed at run
//   time from where the bundle is (`__filename`), so what it finds relative to itself (package.json,
//   schemas/) is found as in the unbundled build. The bundle's banner defines that base URL, made on first
//   use (a kept nothing-due run makes none: ~0.3 ms), with the file's own `require`: modules that declare
//   their own `require` (createRequire) are renamed by esbuild, so nothing injected into a module's text may
//   name `require` or `__filename`.
// - cert-renew's version is written into the bundle (VERSION_READ below): commander is given it by every
//   command, and reading package.json for it cost every run ~0.2 ms. The bin answers `--version` alone from
//   package.json itself; tests/e2e check that both say the same.
// - The manifest validator generated at build time (dist/src/manifest/schema-validator.cjs, ajv standalone
//   code) is bundled into checks.cjs; schema.ts still checks the schema text it holds and falls back to
//   compiling the schema, exactly as unbundled. So are the ajv runtime helpers it requires
//   (ajv/dist/runtime/ucs2length), which every run otherwise resolved through node_modules; ajv itself stays
//   external (the fallback requires it). The build fails if the validator requires anything else.
// - Built-in modules a nothing-due run does not use (LAZY_BUILTINS) load when the bundle first reads one of
//   their exports, not when a module importing them initialises (scripts/bundle-rewrites.mjs).
// - ASCII output (esbuild's default charset): bin/cert-renew reads the file as latin1, a one-byte string.
// - tests keep importing dist/src/ directly; the bundle is an additional output.
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { LAZY_BUILTIN_DEFINITION, lazyBuiltins, validatorRuntimeRequires } from './bundle-rewrites.mjs';

const BUNDLED = new Set(['commander', 'chalk']);
const { dependencies, version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
const root = fileURLToPath(new URL('../', import.meta.url));
const outdir = `${root}dist/bundle`;
const BASE = '__certRenewBundleUrl';
// The bundle's first line names it: a digest of its text (computed with zeros in its place, then filled in,
// so the length and every source-map position stay). bin/cert-renew keys its code cache to it.
const ID_LINE = `// cert-renew bundle ${'0'.repeat(64)}`;

// The file is the CommonJS module function itself, `(function (exports, require, module, __filename,
// __dirname) { … })`, written out: bin/cert-renew compiles the file's text as it is (a vm.Script whose value is
// that function, which it calls as node's loader would). Wrapping it at run time (Module.wrap) made V8 copy
// the whole ~1.1 MB text into one new string in the young generation on every run (~1 ms with the garbage
// collection it brought on). Loaded by node's own loader instead (`require`, which bin/cert-renew does under
// --enable-source-maps, or `node cli.cjs`), the first line calls the function with the module's own
// arguments, so the file is also the module node expects. Which of the two it is, the first line tells by
// `this`: a script's top level has the global object, node's module wrapper the module's exports (globals
// named `module` and `exports`, which `node -e` and the REPL define, do not mislead it).
const MODULE_OPEN = `(this === globalThis ? (body) => body : (body) => body.call(exports, exports, require, module, __filename, __dirname))(function (exports, require, module, __filename, __dirname) {`;
const MODULE_CLOSE = '});';

const FOOTER = `if (require.main === module) {
  process.stderr.write('cert-renew: this file is loaded by bin/cert-renew; run that (the cert-renew command) instead\\n');
  process.exitCode = 2;
}`;

// schema.ts loads the generated validator with createRequire, which esbuild does not follow; this plain
// require() of the same file (relative to schema.js) is bundled. The build fails if the line changes.
const VALIDATOR_LOAD = "createRequire(import.meta.url)('./schema-validator.cjs')";

const require = createRequire(import.meta.url);

// util/version.ts reads package.json; the bundle holds the version itself (the build fails if the line changes).
const VERSION_READ = "JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version";

// The built-in modules that load on first use (measured: a kept nothing-due `run` or `plan` of 10 ACME
// certificates loads none of them but node:os, for the host id, and node:util, which node loads itself;
// docs/performance.md, eighth round). node:fs/promises with node's readline and file-watching modules is
// no longer needed by such a run (its reads go through node:fs). Nor is node:crypto (with node's stream
// modules, which it loads, ~3 ms): such a run hashes nothing (docs/performance.md, ninth round); it loads
// when a run issues, parses a certificate with OpenSSL, or shards. node:fs and node:path are used by every
// run and stay as esbuild writes them.
const LAZY_BUILTINS = [
  'node:module',
  'node:os',
  'node:timers/promises',
  'node:util',
  'node:url',
  'node:http',
  'node:https',
  'node:dns/promises',
  'node:fs/promises',
  'node:crypto',
];

/**
 * Bundles the ajv runtime helpers that the generated validator requires (everything else under `ajv` stays
 * external); fails the build when the validator requires something else.
 */
const validatorRuntime = {
  name: 'validator-runtime',
  setup(b) {
    const validator = /[\\/]dist[\\/]src[\\/]manifest[\\/]schema-validator\.cjs$/;
    b.onLoad({ filter: validator }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      validatorRuntimeRequires(text);
      return { contents: text, loader: 'js' };
    });
    b.onResolve({ filter: /^ajv\/dist\/runtime\// }, (args) =>
      validator.test(args.importer) ? { path: require.resolve(args.path) } : undefined,
    );
  },
};

/** Rewrites `import.meta.url` in dist/src modules to that module's own URL, and bundles the validator. */
const ownUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, async (args) => {
      let text = await readFile(args.path, 'utf8');
      if (/[\\/]dist[\\/]src[\\/]manifest[\\/]schema\.js$/.test(args.path)) {
        if (!text.includes(VALIDATOR_LOAD)) throw new Error(`${args.path} no longer holds ${VALIDATOR_LOAD}`);
        text = text.replace(VALIDATOR_LOAD, "require('./schema-validator.cjs')");
      }
      if (/[\\/]dist[\\/]src[\\/]util[\\/]version\.js$/.test(args.path)) {
        if (!text.includes(VERSION_READ)) throw new Error(`${args.path} no longer holds ${VERSION_READ}`);
        text = text.replace(VERSION_READ, JSON.stringify(version));
      }
      if (!text.includes('import.meta.url')) return { contents: text, loader: 'js' };
      const path = relative(outdir, args.path).split('\\').join('/');
      return {
        contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(path)}, ${BASE}()).href`),
        loader: 'js',
      };
    });
  },
};

// commander loads node:child_process at its top for executable subcommands (`program.executableDir()`),
// which cert-renew has none of: ~2 ms of every run. Its only use is `childProcess.spawn(…)`; the bundled copy
// loads node:child_process when that is called. It also requires node:process, which is the global
// `process` (node's lib/process.js exports it), but is a built-in to load and wrap the first time: ~0.2 ms
// (require timed inside a fresh process). The bundled copy takes the global. The build fails if commander's
// source changes shape.
const CHILD_PROCESS_LOAD = "const childProcess = require('node:child_process');";
const PROCESS_LOAD = "const process = require('node:process');";
const lazyChildProcess = {
  name: 'commander-lazy-child-process',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]commander[\\/]lib[\\/]command\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const uses = text.match(/\bchildProcess\.\w+/g) ?? [];
      if (!text.includes(CHILD_PROCESS_LOAD) || uses.some((use) => use !== 'childProcess.spawn')) {
        throw new Error(`${args.path}: node:child_process is no longer loaded and used as scripts/bundle.mjs expects`);
      }
      if (!text.includes(PROCESS_LOAD)) {
        throw new Error(`${args.path}: node:process is no longer loaded as scripts/bundle.mjs expects`);
      }
      return {
        contents: text
          .replace(
            CHILD_PROCESS_LOAD,
            "const childProcess = { spawn: (...args) => require('node:child_process').spawn(...args) };",
          )
          .replace(PROCESS_LOAD, 'const process = globalThis.process;'),
        loader: 'js',
      };
    });
  },
};

// chalk's default instance detects the terminal's colours at load time through its vendored supports-color,
// which loads node:tty and with it node:net and streams: ~2 ms of every run. cert-renew never uses that
// instance: it decides colour itself (useColour: a terminal, NO_COLOR, FORCE_COLOR, TERM=dumb) and gives
// `new Chalk({ level })` the level (src/report/table.ts). The bundled supports-color detects nothing. The
// build fails if chalk's module changes shape or if cert-renew's code takes chalk's default instance.
const SUPPORTS_COLOR_EXPORTS = ['export function createSupportsColor(', 'export default supportsColor;'];
const noColourDetection = {
  name: 'chalk-no-colour-detection',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]chalk[\\/]source[\\/]vendor[\\/]supports-color[\\/]index\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!SUPPORTS_COLOR_EXPORTS.every((line) => text.includes(line))) {
        throw new Error(`${args.path}: supports-color no longer exports what scripts/bundle.mjs replaces`);
      }
      return {
        contents: 'export function createSupportsColor() { return false; }\nexport default { stdout: false, stderr: false };\n',
        loader: 'js',
      };
    });
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (/import\s+chalk\b|import\s*\{[^}]*\bchalk\b[^}]*\}\s*from\s*'chalk'|from 'chalk\/[^']*'/.test(text)) {
        throw new Error(`${args.path} takes chalk's default instance; give new Chalk({ level }) the level instead`);
      }
      return undefined;
    });
  },
};

// The manifest's checks (validate.js: the schema's generated validator, the duplicate-key scan, the meaning
// checks) are a second file, dist/bundle/checks.cjs, which the CLI requires when it checks a manifest in full:
// a run whose manifest's verdict is kept (src/manifest/verdicts.ts) never loads it, and the code cache,
// which holds what the one bundle's runs compiled, never holds the checks' code (a third of it when it did:
// docs/performance.md, fifteenth round). Every import of validate.js in the CLI becomes a require of it.
const CHECKS_ENTRY = 'dist/src/manifest/validate.js';
const CHECKS_FOOTER = `if (require.main === module) {
  process.stderr.write('cert-renew: this file holds the manifest checks bin/cert-renew loads; run \\'cert-renew validate FILE\\' instead\\n');
  process.exitCode = 2;
}`;
const checksApart = {
  name: 'checks-apart',
  setup(b) {
    b.onResolve({ filter: /(^|\/)validate\.js$/ }, (args) => {
      const path = require('node:path').resolve(args.resolveDir, args.path);
      return path === `${root}${CHECKS_ENTRY}` ? { path: './checks.cjs', external: true } : undefined;
    });
  },
};

/** The checks of one bundle's text (ASCII, lazy built-ins, no import(), ajv's helpers held). */
function finished(name, raw) {
  // esbuild escapes every non-ASCII character of the code (charset: ascii); comments it keeps as written.
  // Escaping those too makes the file plain ASCII, which bin/cert-renew reads as latin1 (one byte a character).
  const text = lazyBuiltins(raw, LAZY_BUILTINS, (id, exported) => exported in require(id)).replace(
    /[^\x00-\x7f]/gu,
    (c) => `\\u{${c.codePointAt(0).toString(16)}}`,
  );
  if (/\bimport\(/.test(text)) {
    throw new Error(`dist/bundle/${name} holds an import(), which bin/cert-renew cannot run (see \`supported\`)`);
  }
  // (ajv's helpers name themselves in a string, `ucs2length.code = 'require("ajv/dist/runtime/ucs2length")…'`.)
  if (/(?<!['"`])\brequire\("ajv\/dist\/runtime\//.test(text)) {
    throw new Error(`dist/bundle/${name} requires an ajv runtime helper from node_modules: it should be bundled`);
  }
  return text;
}

/** What both files are built with: CommonJS for node 20, packages external (but commander and chalk). */
const COMMON = {
  absWorkingDir: root,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Everything in node_modules stays external but the two packages every command loads.
  external: Object.keys(dependencies).filter((name) => !BUNDLED.has(name)),
  // `import()` of a package or node builtin becomes require(): the file runs as a script (vm.Script), where
  // import() would need a loader callback. Every such package is CommonJS (@peculiar/x509's `main` too).
  supported: { 'dynamic-import': false },
  sourcemap: 'linked',
  logLevel: 'warning',
  logOverride: { 'empty-import-meta': 'error' },
};
/** The base URL of `import.meta.url` (made on first use) and the lazy built-ins' stand-in, in both files. */
const PRELUDE = `'use strict';\nlet ${BASE}Text;\nconst ${BASE} = () => (${BASE}Text ??= require('node:url').pathToFileURL(__filename).href);\n${LAZY_BUILTIN_DEFINITION}`;

// The ES module bundle this script made before (dist/bundle/cli.js and its chunks) would be stale.
await rm(outdir, { recursive: true, force: true });
const result = await build({
  ...COMMON,
  entryPoints: ['dist/src/cli.js'],
  outfile: `${outdir}/cli.cjs`,
  // The directive first in the module function's body (a banner statement before esbuild's own "use strict" would
  // leave the file sloppy).
  banner: { js: `${MODULE_OPEN} ${ID_LINE}\n${PRELUDE}` },
  // The file only defines the CLI; bin/cert-renew runs it. Run as a program (`node …/cli.cjs run`, a unit
  // file's ExecStart written by hand), it would otherwise do nothing and exit 0: a timer that renews nothing.
  footer: { js: `${FOOTER}\n${MODULE_CLOSE}` },
  plugins: [checksApart, noColourDetection, validatorRuntime, ownUrl, lazyChildProcess],
});
if (result.errors.length > 0 || result.warnings.length > 0) process.exit(1);
// The checks: a plain CommonJS module beside it, loaded by node's own loader (no code cache).
const checks = await build({
  ...COMMON,
  entryPoints: [CHECKS_ENTRY],
  outfile: `${outdir}/checks.cjs`,
  banner: { js: PRELUDE },
  // Run as a program (`node …/checks.cjs manifest.json`), it would check nothing and exit 0: a false pass.
  footer: { js: CHECKS_FOOTER },
  plugins: [validatorRuntime, ownUrl],
});
if (checks.errors.length > 0 || checks.warnings.length > 0) process.exit(1);
const checksText = finished('checks.cjs', await readFile(`${outdir}/checks.cjs`, 'utf8'));
if (/\bfunction checkManifestText\b/.test(await readFile(`${outdir}/cli.cjs`, 'utf8'))) {
  throw new Error('dist/bundle/cli.cjs holds the manifest checks: they belong to dist/bundle/checks.cjs');
}
await writeFile(`${outdir}/checks.cjs`, checksText, 'latin1');
const outfile = `${outdir}/cli.cjs`;
let text = finished('cli.cjs', await readFile(outfile, 'utf8'));
if (!text.startsWith(`${MODULE_OPEN} ${ID_LINE}\n`)) throw new Error('dist/bundle/cli.cjs does not start with its banner');
// The digest names both files: the code cache and the manifests' verdicts are keyed to it.
const digest = createHash('sha256').update(text).update(checksText).digest('hex');
text = text.replace(ID_LINE, `// cert-renew bundle ${digest}`);
await writeFile(outfile, text, 'latin1');
