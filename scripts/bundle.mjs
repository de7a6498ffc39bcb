// Build step (run after tsc and compile-schema by `npm run build`): bundles the compiled CLI
// (dist/src/cli.js and everything it imports from dist/src/) with esbuild into dist/bundle/, which is what
// bin/cert-renew runs. Resolving and loading ~50 small ES modules was a third of a nothing-due run's CPU.
//
// - ES modules with code splitting: every `await import()` stays a separate chunk loaded only when used
//   (commands, stores, issuers, acme-client's adapter). Packages in node_modules stay external, so
//   acme-client, ioredis and @peculiar/x509 keep loading lazily, from node_modules, exactly as before.
// - All chunks sit directly in dist/bundle/. A module's `import.meta.url` is rewritten to the URL of the
//   same module under dist/src/, so what it finds relative to itself (package.json, schemas/, the
//   build-time schema validator dist/src/manifest/schema-validator.cjs) is found as in the unbundled build.
// - tests keep importing dist/src/ directly; the bundle is an additional output.
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const BUNDLED = new Set(['commander', 'chalk']);
const { dependencies } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
const root = fileURLToPath(new URL('../', import.meta.url));
const outdir = `${root}dist/bundle`;

/** Rewrites `import.meta.url` in dist/src modules to that module's own URL (see above). */
const ownUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const path = relative(outdir, args.path).split('\\').join('/');
      return {
        contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(path)}, import.meta.url).href`),
        loader: 'js',
      };
    });
  },
};

await build({
  absWorkingDir: root,
  entryPoints: { cli: 'dist/src/cli.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Everything in node_modules stays external but the two packages every command loads.
  external: Object.keys(dependencies).filter((name) => !BUNDLED.has(name)),
  // commander is CommonJS: its require() of node's modules needs a real require in an ES module chunk.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  chunkNames: '[name]-[hash]',
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [ownUrl],
});
