/**
 * scripts/bundle-rewrites.mjs, the checks and rewrites of the bundle build (scripts/bundle.mjs): the ajv
 * runtime helpers the generated validator may require, and the built-ins made to load on first use. Given
 * text in the shapes esbuild writes, each rewrite is run as code; each shape it does not expect fails the
 * build with the line and the reason.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../e2e/cli.js';

interface Rewrites {
  validatorRuntimeRequires(text: string): string[];
  lazyBuiltins(text: string, ids: string[], hasExport: (id: string, name: string) => boolean): string;
  LAZY_BUILTIN_DEFINITION: string;
}

const rewrites = (await import(join(REPO, 'scripts', 'bundle-rewrites.mjs'))) as Rewrites;
const nodeRequire = createRequire(import.meta.url);
const hasExport = (id: string, name: string) => name in nodeRequire(id);

test('the validator may require its formats and ajv runtime helpers, and nothing else', () => {
  const text = [
    'const formats0 = require("./schema-formats.cjs").uri;',
    'const formats2 = require("./schema-formats.cjs").email;',
    'var func1 = require("ajv/dist/runtime/ucs2length").default;',
  ].join('\n');
  assert.deepEqual(rewrites.validatorRuntimeRequires(text), ['ajv/dist/runtime/ucs2length']);
  for (const unexpected of ['"ajv"', '"ajv/dist/2020"', '"fast-deep-equal"', '"node:fs"', 'name']) {
    assert.throws(
      () => rewrites.validatorRuntimeRequires(`${text}\nconst x = require(${unexpected});`),
      /the generated validator requires .* which scripts\/bundle\.mjs does not expect/,
    );
  }
});

/** Runs `body` (esbuild-shaped CommonJS) after the banner's definition; `require` counts what it loads. */
function run(body: string): { loaded: string[]; exports: Record<string, unknown> } {
  const loaded: string[] = [];
  const countingRequire = (id: string) => {
    loaded.push(id);
    return nodeRequire(id);
  };
  const module = { exports: {} as Record<string, unknown>, constructor: nodeRequire('node:module') };
  new Function('require', 'module', 'exports', `${rewrites.LAZY_BUILTIN_DEFINITION}\n${body}`)(
    countingRequire,
    module,
    module.exports,
  );
  return { loaded, exports: module.exports };
}

const ESBUILD_SHAPE = `var import_node_os = require("node:os");
function hostId() {
  return (0, import_node_os.hostname)();
}
var import_promises, import_node_module, pause;
var init_wait = __esm(() => {
  import_promises = require("node:timers/promises");
  import_node_module = require("node:module");
  pause = (ms) => (0, import_promises.setTimeout)(ms);
});
function later() {
  return import_node_module.createRequire;
}
function makeModule() {
  return new import_node_module.Module("x");
}
async function dynamic() {
  return Promise.resolve().then(() => __toESM(require("node:os"), 1));
}
`;

test('a lazily loaded built-in loads on the first read of one of its exports, not before', () => {
  const ids = ['node:os', 'node:timers/promises', 'node:module'];
  const text = rewrites.lazyBuiltins(ESBUILD_SHAPE, ids, hasExport);
  assert.equal(
    text.split('\n').length,
    ESBUILD_SHAPE.split('\n').length,
    'no line added: the source map holds',
  );
  assert.match(text, /import_node_os = __certRenewLazyBuiltin\("node:os", \["hostname"\]\);/);
  assert.match(
    text,
    /import_node_module = __certRenewLazyBuiltin\("node:module", \["Module","createRequire"\]\);/,
  );
  assert.match(text, /__toESM\(require\("node:os"\), 1\)/, 'an import() stays as it was');
  const { loaded, exports } = run(
    `const __esm = (fn) => fn;\n${text}\nmodule.exports = { hostId, init_wait, later, makeModule };`,
  );
  assert.deepEqual(loaded, []);
  (exports.init_wait as () => void)();
  assert.deepEqual(loaded, [], 'initialising the module loads nothing');
  assert.equal((exports.hostId as () => string)(), nodeRequire('node:os').hostname());
  assert.deepEqual(loaded, ['node:os']);
  assert.equal((exports.hostId as () => string)(), nodeRequire('node:os').hostname());
  assert.deepEqual(loaded, ['node:os'], 'loaded once');
  // node:module is the CommonJS Module class the bundle holds as module.constructor: nothing is required.
  assert.equal((exports.later as () => unknown)(), nodeRequire('node:module').createRequire);
  assert.ok((exports.makeModule as () => unknown)() instanceof nodeRequire('node:module'));
  assert.deepEqual(loaded, ['node:os']);
});

test('the build fails when a lazily loaded built-in is used other than by reading one of its exports', () => {
  const cases: [string, RegExp][] = [
    // passed on as a whole
    ['use(import_node_os);', /line \d+: import_node_os\); is not a plain read of an export of node:os/],
    // a method call would give the stand-in as `this`
    ['import_node_os.hostname();', /import_node_os\.hostname\(\); is not a plain read/],
    // assigned
    ['import_node_os.hostname = () => "x";', /is not a plain read/],
    // not an export of the built-in
    [
      '(0, import_node_os.hostnam)();',
      /import_node_os\.hostnam\)\(\); is not a plain read of an export of node:os/,
    ],
    // spread, destructured
    ['const { hostname } = import_node_os;', /is not a plain read/],
    // node:module: only what the CommonJS Module class has itself
    ['(0, import_node_module.findSourceMap)("x");', /is not a plain read of an export of node:module/],
    // the built-in required in another form
    ['var import_os2 = __toESM(require("node:os"));', /node:os is required 1 time\(s\) in a form/],
  ];
  for (const [line, error] of cases) {
    assert.throws(
      () => rewrites.lazyBuiltins(`${ESBUILD_SHAPE}${line}\n`, ['node:os', 'node:module'], hasExport),
      error,
      line,
    );
  }
});
