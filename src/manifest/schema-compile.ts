/**
 * Compiling the manifest's JSON Schema with ajv: at run time (the fallback) and at build time, where
 * ajv's standalone code generation writes the validator as a CommonJS module
 * (`dist/src/manifest/schema-validator.cjs`, written by `scripts/compile-schema.mjs`), so a run neither
 * loads ajv nor compiles the schema. The schema in `schemas/` stays the source of truth: the generated
 * module holds the schema text it was compiled from, and `schema.ts` uses it only when that is the shipped
 * schema's text, character for character (a comparison, not a digest: no hashing on every run).
 *
 * ajv and the formats (schema-formats.cts) are CommonJS; they are required here (not imported) so this module
 * loads them only when a function is called, and `schema.ts` can call it synchronously.
 */
import { createRequire } from 'node:module';
import type { ErrorObject } from 'ajv';
import type { Ajv2020 } from 'ajv/dist/2020.js';
// Imported, not required: the bundle then holds it, as it holds the generated validator's require of it (an
// installed package has no dist/src/ to require it from).
import schemaFormats from './schema-formats.cjs';

/** The validator's shape (ajv's ValidateFunction, as far as `schema.ts` uses it). */
export interface CompiledValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

const require = createRequire(import.meta.url);

function newAjv(source: boolean): Ajv2020 {
  const { Ajv2020: Ajv } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  const ajv = new Ajv({
    allErrors: true,
    verbose: true,
    strictSchema: true,
    strictNumbers: true,
    strictTypes: true,
    strictTuples: true,
    strictRequired: false,
    allowUnionTypes: true,
    logger: false,
    ...(source ? { code: { source: true, esm: false, lines: false, optimize: true } } : {}),
  });
  // The formats the schema uses, with ajv-formats' meaning but loading it only when needed (schema-formats.cts);
  // with `code.source` the generated code requires them from the module beside it.
  if (source) {
    const { _ } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
    (ajv.opts.code as { formats?: unknown }).formats = _`require("./schema-formats.cjs")`;
  }
  ajv.addFormat('uri', schemaFormats.uri);
  ajv.addFormat('email', schemaFormats.email);
  return ajv;
}

/** Compiles the schema in this process (what a run does when no matching generated validator exists). */
export function compileValidator(schema: Record<string, unknown>): CompiledValidator {
  return newAjv(false).compile(schema) as CompiledValidator;
}

/**
 * The source of a CommonJS module whose export is the validator and the schema text it was compiled from
 * (`module.exports.schemaText`: what ties the validator to its schema). The module requires only ajv's
 * small runtime helpers and `./schema-formats.cjs` (beside it in dist/src/manifest/). Throws what ajv
 * throws for an invalid schema.
 */
export function generateValidatorModule(schemaText: string): string {
  const ajv = newAjv(true);
  const validate = ajv.compile(JSON.parse(schemaText) as Record<string, unknown>);
  const standaloneCode = (
    require('ajv/dist/standalone/index.js') as { default: (a: Ajv2020, v: unknown) => string }
  ).default;
  return `${standaloneCode(ajv, validate)}\nmodule.exports.schemaText = ${JSON.stringify(schemaText)};\n`;
}
