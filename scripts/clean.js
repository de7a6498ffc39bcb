// Removes the given directories (build output) without a shell, so npm scripts work on every platform.
import { rmSync } from 'node:fs';

for (const path of process.argv.slice(2)) rmSync(path, { recursive: true, force: true });
