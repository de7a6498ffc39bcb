// Build step (run after tsc by `just build` and `npm run build`): compiles
// schemas/certificate-manifest.schema.json with ajv's standalone code generation into
// dist/src/manifest/schema-validator.cjs, so a run validates manifests without loading ajv.
import { readFile, writeFile } from 'node:fs/promises';

const root = new URL('../', import.meta.url);
const { generateValidatorModule } = await import(new URL('dist/src/manifest/schema-compile.js', root).href);
const schemaText = await readFile(new URL('schemas/certificate-manifest.schema.json', root), 'utf8');
await writeFile(new URL('dist/src/manifest/schema-validator.cjs', root), generateValidatorModule(schemaText));
