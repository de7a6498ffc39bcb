import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { invokedCommand } from '../../src/cli.js';

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
