/**
 * The layering of src/ as a test: no module may reach itself through its imports. Every import counts —
 * `import type`, re-exports and lazy `await import()` too — because a cycle of types is still a tangle a
 * reader has to hold in their head, and a lazy import only hides one.
 *
 * Read from the TypeScript sources with the compiler's own import scanner (`ts.preProcessFile`), which is
 * already a dev dependency; madge would add a large dependency tree for the same walk.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { REPO } from '../e2e/cli.js';

const SRC = join(REPO, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(path);
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The src/ files one file imports (relative specifiers; `./x.js` is `./x.ts`). */
function importsOf(file: string): string[] {
  const scanned = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return scanned.importedFiles
    .map((f) => f.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => resolve(dirname(file), name).replace(/\.js$/, '.ts'));
}

/**
 * Cycles found by a depth-first walk (a node still on the stack reached again closes one); each is the list of
 * files from its first member back to it. Not every cycle of a tangle is listed, but none is missed entirely.
 */
function findCycles(graph: Map<string, string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

test('the cycle finder finds a cycle and passes a tree', () => {
  const cyclic = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
  ]);
  assert.deepEqual(findCycles(cyclic), [['a', 'b', 'c', 'a']]);
  const tree = new Map([
    ['a', ['b', 'c']],
    ['b', ['c']],
    ['c', []],
  ]);
  assert.deepEqual(findCycles(tree), []);
});

test('src/ has no import cycle (type imports and lazy imports included)', () => {
  const files = sourceFiles(SRC);
  assert.ok(files.length > 20, `found the sources (${files.length} files under ${SRC})`);
  const graph = new Map(files.map((file) => [file, importsOf(file)]));
  const cycles = findCycles(graph).map((cycle) => cycle.map((f) => relative(SRC, f)).join(' → '));
  assert.deepEqual(cycles, [], `import cycles in src/:\n${cycles.join('\n')}`);
});
