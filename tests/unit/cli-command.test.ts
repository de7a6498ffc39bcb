import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { invokedCommand } from '../../src/cli.js';
import { useColour } from '../../src/commands/io.js';

test('invokedCommand names the command after the global options, and nothing when in doubt', () => {
  const cases: [string[], string | undefined][] = [
    [['run'], 'run'],
    [['run', '--dry-run'], 'run'],
    [['-m', 'm.json', 'plan'], 'plan'],
    [['--manifest', 'run', 'status'], 'status'],
    [['--manifest=m.json', '-v', 'validate', 'a.json'], 'validate'],
    [['-mm.json', '-q', 'prune'], 'prune'],
    [['--verbose', '--quiet', 'import', 'certbot'], 'import'],
    [[], undefined],
    [['--help'], undefined],
    [['-V'], undefined],
    [['help', 'run'], undefined],
    [['plna'], undefined],
    [['-vq', 'run'], undefined],
    [['--', 'run'], undefined],
    [['--unknown', 'run'], undefined],
    [['-m'], undefined],
    [['constructor'], undefined],
    [['toString'], undefined],
  ];
  for (const [argv, expected] of cases) assert.equal(invokedCommand(argv), expected, argv.join(' '));
});

test('useColour: a terminal unless NO_COLOR or TERM=dumb; FORCE_COLOR decides either way', () => {
  const colour = (env: Record<string, string>, stdoutIsTTY: boolean) => useColour({ env, stdoutIsTTY });
  assert.equal(colour({}, true), true);
  assert.equal(colour({}, false), false);
  assert.equal(colour({ NO_COLOR: '1' }, true), false);
  assert.equal(colour({ NO_COLOR: '' }, true), true);
  assert.equal(colour({ TERM: 'dumb' }, true), false);
  for (const on of ['1', '2', '3', 'true', ''])
    assert.equal(colour({ FORCE_COLOR: on, NO_COLOR: '1' }, false), true, on);
  for (const off of ['0', 'false']) assert.equal(colour({ FORCE_COLOR: off }, true), false, off);
});
