// Checks and rewrites of scripts/bundle.mjs, kept apart so that tests can give them text
// (tests/unit/bundle-rewrites.test.ts). Each fails the build, with the reason, when the code it is given
// does not have the shape it expects.

/** What the generated manifest validator may require: its formats (bundled) and ajv's runtime helpers. */
const VALIDATOR_REQUIRE = /\brequire\(([^)]*)\)/g;
const FORMATS = '"./schema-formats.cjs"';
const AJV_RUNTIME = /^"(ajv\/dist\/runtime\/[a-z0-9_]+)"$/i;

/**
 * The ajv runtime helpers (e.g. `ajv/dist/runtime/ucs2length`) that the generated validator's text requires;
 * throws when it requires anything else than these and its own formats module.
 */
export function validatorRuntimeRequires(text) {
  const helpers = new Set();
  for (const [, argument] of text.matchAll(VALIDATOR_REQUIRE)) {
    if (argument === FORMATS) continue;
    const helper = AJV_RUNTIME.exec(argument)?.[1];
    if (helper === undefined) {
      throw new Error(
        `the generated validator requires ${argument}, which scripts/bundle.mjs does not expect (only ${FORMATS} and ajv/dist/runtime/*)`,
      );
    }
    helpers.add(helper);
  }
  return [...helpers];
}

/** The banner's function that makes a built-in's lazy stand-in (see lazyBuiltins). */
export const LAZY_BUILTIN = '__certRenewLazyBuiltin';

/**
 * The banner's definition of LAZY_BUILTIN: an object with a getter for each name used, which requires the
 * built-in module on first read. `node:module` is the CommonJS loader's Module class, which the bundle
 * already holds as `module.constructor`: reading it loads nothing (the public `node:module` module adds
 * node's ES module loader and source maps, which the names allowed for it — MODULE_CLASS — do not need).
 */
export const LAZY_BUILTIN_DEFINITION = `const ${LAZY_BUILTIN} = (id, names) => {
  let loaded;
  const lazy = {};
  for (const name of names) {
    Object.defineProperty(lazy, name, {
      enumerable: true,
      get: () => (loaded ??= id === 'node:module' ? module.constructor : require(id))[name],
    });
  }
  return lazy;
};`;

/** What the bundle may read of `node:module`: what the CommonJS loader's Module class has itself. */
export const MODULE_CLASS = new Set(['createRequire', 'Module', 'wrap']);

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * Rewrites esbuild's output so that each built-in in `ids` (e.g. `node:os`) loads when the bundle first
 * reads one of its exports, not when the module importing it initialises: every `import_x =
 * require("node:os");` (or `var import_x = …`) becomes `import_x = __certRenewLazyBuiltin("node:os",
 * [names read])`. `hasExport(id, name)` says whether the built-in exports `name`. Throws (the build fails)
 * when the variable is used other than as a declaration or a plain read of one of those exports,
 * `import_x.name` (passed on, assigned, spread, or called as a method, which would give the stand-in as
 * `this`), or when the built-in is required in another form than that assignment or an `import()` (which is
 * lazy already). A variable of the same name in another scope is checked too: the build fails rather than
 * guess. The rewrite adds no line, so source-map lines stay.
 */
export function lazyBuiltins(text, ids, hasExport) {
  let out = text;
  for (const id of ids) {
    const call = `require(${JSON.stringify(id)})`;
    const load = new RegExp(`(^|[\\s;{])((?:var )?)([\\w$]+) = ${escape(call)};`, 'gm');
    const dynamic = `__toESM(${call}, 1)`;
    const loads = [...out.matchAll(load)];
    const others = out.split(call).length - 1 - loads.length - (out.split(dynamic).length - 1);
    if (others !== 0) throw new Error(`${id} is required ${others} time(s) in a form scripts/bundle.mjs cannot make lazy`);
    for (const variable of new Set(loads.map((match) => match[3]))) {
      const names = new Set();
      const uses = new RegExp(`(?<![\\w$.])${escape(variable)}(?![\\w$])`, 'g');
      for (const use of out.matchAll(uses)) {
        const before = out.slice(out.lastIndexOf('\n', use.index) + 1, use.index);
        const end = out.indexOf('\n', use.index);
        const after = out.slice(use.index + variable.length, end === -1 ? undefined : end);
        if (after.startsWith(` = ${call};`)) continue; // the load
        if (/^\s*var [\w$, ]*$/.test(before) && /^[\w$, ]*;$/.test(after)) continue; // `var a, import_x, b;`
        // `import_x.name(…)` would call it with the stand-in as `this`; `new import_x.Name(…)` does not.
        const method = before.endsWith('new ') ? '' : '|\\(';
        const read = new RegExp(`^\\.([\\w$]+)(?!\\s*(?:[-+*/%&|^]?=(?!=)|\\+\\+|--${method}))`).exec(after);
        const name = read?.[1];
        if (name === undefined || !hasExport(id, name) || (id === 'node:module' && !MODULE_CLASS.has(name))) {
          const line = out.slice(0, use.index).split('\n').length;
          throw new Error(
            `line ${line}: ${variable}${after.slice(0, 60)} is not a plain read of an export of ${id}, which scripts/bundle.mjs loads lazily`,
          );
        }
        names.add(name);
      }
      const lazy = `${LAZY_BUILTIN}(${JSON.stringify(id)}, ${JSON.stringify([...names].sort())})`;
      out = out.replace(
        new RegExp(`(^|[\\s;{])((?:var )?)${escape(variable)} = ${escape(call)};`, 'gm'),
        (_, lead, decl) => `${lead}${decl}${variable} = ${lazy};`,
      );
    }
  }
  return out;
}
