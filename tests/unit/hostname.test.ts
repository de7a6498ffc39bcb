/**
 * runtime/hostname.ts reads /proc/sys/kernel/hostname instead of loading node:os: the same name as
 * os.hostname() gives, spaces and all, in this UTS namespace and in new ones (`unshare --uts`, as root in CI)
 * whose name is set through the same file.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hostName } from '../../src/runtime/hostname.js';

const MODULE = fileURLToPath(new URL('../../src/runtime/hostname.js', import.meta.url));

test('the host name is os.hostname()', () => {
  assert.equal(hostName(), hostname());
});

test('in a UTS namespace of its own, any name is os.hostname()’s, spaces and dots kept', () => {
  assert.equal(process.getuid?.(), 0, 'CI runs the tests as root (unshare needs it)');
  const script = `import(${JSON.stringify(MODULE)}).then(async (m) => console.log(JSON.stringify([m.hostName(), (await import('node:os')).hostname()])))`;
  for (const name of [' pad2 ', 'web-01.example.com', 'x'.repeat(64), 'a.b']) {
    const out = execFileSync(
      'unshare',
      [
        '--uts',
        'sh',
        '-c',
        'printf %s "$1" > /proc/sys/kernel/hostname && exec "$2" -e "$3"',
        'sh',
        name,
        process.execPath,
        script,
      ],
      { encoding: 'utf8' },
    );
    assert.deepEqual(JSON.parse(out), [name, name], JSON.stringify(name));
  }
});
