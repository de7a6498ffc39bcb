import { strict as assert } from 'node:assert';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fdOutput } from '../../src/util/output.js';
import { tempDir } from '../harness/process.js';

const noStream = (): NodeJS.WriteStream => assert.fail('the stream was asked for');

test('a file and /dev/null are written to directly, without the stream', async () => {
  const tmp = await tempDir();
  const fd = openSync(`${tmp.path}/out.txt`, 'w');
  const nul = openSync('/dev/null', 'w');
  try {
    const failures: unknown[] = [];
    const file = fdOutput(fd, noStream, (error) => failures.push(error));
    file.write('one\n');
    file.write('two\n');
    assert.equal(file.isTerminal(), false);
    await file.flush();
    assert.equal(readFileSync(`${tmp.path}/out.txt`, 'utf8'), 'one\ntwo\n');
    const devNull = fdOutput(nul, noStream, (error) => failures.push(error));
    devNull.write('dropped\n'.repeat(10_000));
    assert.equal(devNull.isTerminal(), false);
    await devNull.flush();
    assert.deepEqual(failures, []);
  } finally {
    closeSync(fd);
    closeSync(nul);
    await tmp.remove();
  }
});

test('another device (/dev/full) goes through the stream', () => {
  const full = openSync('/dev/full', 'w');
  try {
    let asked = 0;
    const output = fdOutput(
      full,
      () => {
        asked++;
        return { on: () => undefined, write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
      },
      () => undefined,
    );
    output.write('text\n');
    assert.equal(output.isTerminal(), false);
    assert.equal(asked, 1);
  } finally {
    closeSync(full);
  }
});
