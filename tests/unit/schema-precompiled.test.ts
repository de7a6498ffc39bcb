/**
 * The validator compiled at build time (ajv standalone code, scripts/compile-schema.mjs) and the JSON
 * Schema in schemas/ agree: on the example manifests and on thousands of variants of them (every value
 * replaced by a wrong type, every key removed, an unknown key added to every object) both give the same
 * verdict and the same errors as ajv compiling the schema at run time.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { manifestSchema, precompiledValidator } from '../../src/manifest/schema.js';
import {
  type CompiledValidator,
  compileValidator,
  generateValidatorModule,
} from '../../src/manifest/schema-compile.js';

const schemaUrl = new URL('../../../schemas/certificate-manifest.schema.json', import.meta.url);
const examplesUrl = new URL('../../../examples/', import.meta.url);

/** Loads generated module source the way node would, as if it were beside schema.js (it requires ./schema-formats.cjs). */
function loadModule(source: string): CompiledValidator & { schemaText?: string } {
  const module = { exports: {} as unknown };
  new Function('require', 'module', 'exports', source)(
    createRequire(new URL('../../src/manifest/schema-validator.cjs', import.meta.url)),
    module,
    module.exports,
  );
  return module.exports as CompiledValidator & { schemaText?: string };
}

type Json = unknown;

/** The example manifest and variants of it, each differing from it in one place. */
function* variants(value: Json): Generator<Json> {
  yield value;
  const wrong: Json[] = [null, 0, -1, 1.5, '', 'x', true, [], {}, ['x'], { unexpected: 1 }];
  function* at(node: Json, replace: (v: Json | typeof REMOVE) => Json): Generator<Json> {
    for (const w of wrong) yield replace(w);
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        yield* at(node[i], (v) => {
          const copy = [...node];
          if (v === REMOVE) copy.splice(i, 1);
          else copy[i] = v;
          return replace(copy);
        });
      }
    } else if (typeof node === 'object' && node !== null) {
      const object = node as Record<string, Json>;
      yield replace({ ...object, notInTheSchema: 1 });
      for (const key of Object.keys(object)) {
        yield* at(object[key], (v) => {
          const copy = { ...object };
          if (v === REMOVE) delete copy[key];
          else copy[key] = v;
          return replace(copy);
        });
        yield replace(
          Object.fromEntries(Object.entries(object).filter(([k]) => k !== key)) as Record<string, Json>,
        );
      }
    }
  }
  yield* at(value, (v) => v);
}
const REMOVE = Symbol('remove');

function verdict(validate: CompiledValidator, data: Json) {
  const valid = validate(data);
  return {
    valid,
    errors: (validate.errors ?? []).map((e) => ({
      instancePath: e.instancePath,
      schemaPath: e.schemaPath,
      keyword: e.keyword,
      params: e.params,
      message: e.message,
    })),
  };
}

describe('the precompiled manifest validator', () => {
  const schemaText = readFileSync(schemaUrl, 'utf8');
  const runtime = compileValidator(manifestSchema());
  // The build's validator when the build wrote one for this schema; otherwise one generated here.
  const built = precompiledValidator();
  const generated = built ?? loadModule(generateValidatorModule(schemaText));

  test('records the text of the schema it was compiled from', () => {
    const fresh = loadModule(generateValidatorModule(schemaText));
    assert.equal(fresh.schemaText, schemaText);
  });

  test('agrees with the JSON Schema on the examples and their one-change variants', () => {
    const examples = readdirSync(examplesUrl).filter((f) => f.endsWith('.json'));
    assert.ok(examples.length > 0, 'no example manifests found');
    let checked = 0;
    let invalid = 0;
    for (const file of examples) {
      const manifest = JSON.parse(readFileSync(new URL(file, examplesUrl), 'utf8')) as Json;
      assert.equal(runtime(manifest), true, `${file} is valid`);
      for (const variant of variants(manifest)) {
        const expected = verdict(runtime, variant);
        const actual = verdict(generated, variant);
        assert.deepEqual(actual, expected, `${file}: ${JSON.stringify(variant).slice(0, 300)}`);
        checked++;
        if (!expected.valid) invalid++;
      }
    }
    assert.ok(invalid > 1000, `only ${invalid} invalid variants of ${checked} were checked`);
  });
});
