/**
 * The monitoring that ships in examples/monitoring/: the alerting rules pass `promtool check rules` and
 * promtool's own rule unit tests (tests/monitoring/), and every metric the Grafana dashboard and the rules
 * query is one a real `cert-renew run --metrics-file` writes.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCommand, type TempDir, tempDir } from '../harness/process.js';
import { REPO, runCli } from './cli.js';
import { localManifest, writeManifest } from './fixtures.js';

const RULES = join(REPO, 'examples', 'monitoring', 'cert-renew.rules.yml');
const DASHBOARD = join(REPO, 'examples', 'monitoring', 'cert-renew-dashboard.json');

/** PromQL words that are not metric names when they are not called like a function. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring']);

/** The metric names a PromQL expression selects (functions, label matchers, label lists and `$vars` aside). */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\$\{?\w+\}?/g, '');
  const names: string[] = [];
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = stripped.slice((match.index ?? 0) + match[0].length).trimStart();
    if (rest.startsWith('(') || KEYWORDS.has(match[0])) continue;
    names.push(match[0]);
  }
  return names;
}

/** Every `expr` of a dashboard's panels and the metric of its `label_values(metric, label)` variables. */
function dashboardMetrics(dashboard: unknown): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (node: unknown, where: string): void => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => {
        visit(child, `${where}[${i}]`);
      });
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'expr' && typeof value === 'string') {
        for (const name of metricNames(value)) found.set(name, where);
      } else if (key === 'query' && typeof value === 'string') {
        const metric = /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*[,)]/.exec(value)?.[1];
        if (metric) found.set(metric, where);
      } else {
        visit(value, `${where}.${key}`);
      }
    }
  };
  visit(dashboard, '$');
  return found;
}

/** The `expr:` of every rule (inline or a `|` block), read from the rules file's text. */
function ruleExpressions(text: string): string[] {
  const exprs: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const match = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (!match) return;
    const indent = (match[1] ?? '').length;
    if (match[2] && !/^[|>]-?$/.test(match[2])) {
      exprs.push(match[2]);
      return;
    }
    const block: string[] = [];
    for (const next of lines.slice(i + 1)) {
      if (next.trim() !== '' && next.length - next.trimStart().length <= indent) break;
      block.push(next);
    }
    exprs.push(block.join('\n'));
  });
  return exprs;
}

/** Names of the samples in a Prometheus text exposition. */
function sampleNames(textfile: string): Set<string> {
  const names = new Set<string>();
  for (const line of textfile.split('\n')) {
    const name = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line)?.[1];
    if (name) names.add(name);
  }
  return names;
}

describe('monitoring examples', () => {
  let tmp: TempDir;
  /** Sample names written by two real runs: one that renews (a hook fails), one that finds them fine. */
  let written: Set<string>;

  before(async () => {
    tmp = await tempDir('cert-renew-monitoring-');
    const store = join(tmp.path, 'certs');
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, {
        certificates: [
          { name: 'web', domains: ['web.example.test'] },
          {
            name: 'api',
            domains: ['api.example.test'],
            hooks: { postRenew: [{ run: ['false'] }], onFailure: [{ run: ['false'] }] },
          },
        ],
      }),
    );
    written = new Set();
    for (const [i, expected] of [1, 1].entries()) {
      const metrics = join(tmp.path, `run-${i}.prom`);
      const r = await runCli(['-m', manifest, 'run', '--metrics-file', metrics]);
      assert.equal(r.code, expected, r.stderr);
      const text = await readFile(metrics, 'utf8');
      for (const name of sampleNames(text)) written.add(name);
      // The failed onFailure hook (the alerting path) and post-renew hook are counted, by event.
      assert.match(text, /^cert_renew_last_run_hook_failures\{event="on-failure"\} 1$/m);
      assert.match(text, /^cert_renew_last_run_hook_failures\{event="post-renew"\} 1$/m);
      assert.match(text, /^cert_renew_last_run_hook_failures\{event="rollback"\} 0$/m);
    }
  });
  after(() => tmp?.remove());

  test('promtool check rules passes on the shipped rules', async () => {
    const r = await runCommand('promtool', ['check', 'rules', RULES]);
    assert.match(r.stdout, /SUCCESS: 9 rules found/);
  });

  test("the rules fire when they should (promtool's rule unit tests)", async () => {
    const files = ['cert-renew.rules.test.yml', 'cert-renew.store-down.test.yml'];
    const r = await runCommand('promtool', ['test', 'rules', ...files.map((f) => `tests/monitoring/${f}`)], {
      cwd: REPO,
      timeoutMs: 120_000,
    });
    assert.equal(r.stdout.match(/SUCCESS/g)?.length, files.length, r.stdout);
  });

  test('the rules use only metrics the textfile has', async () => {
    const exprs = ruleExpressions(await readFile(RULES, 'utf8'));
    assert.equal(exprs.length, 9);
    for (const expr of exprs) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, expr);
      for (const name of names) assert.ok(written.has(name), `${name} (rule ${expr}) is not in the textfile`);
    }
  });

  test('the dashboard parses and its queries use only metrics the textfile has', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: unknown[]; title: string };
    assert.equal(dashboard.title, 'cert-renew');
    const used = dashboardMetrics(dashboard);
    assert.ok(used.size >= 8, `the dashboard queries ${[...used.keys()].join(', ')}`);
    for (const [name, where] of used) {
      assert.ok(
        written.has(name),
        `${name} (at ${where}) is not in the textfile: ${[...written].join(', ')}`,
      );
    }
    // And every certificate and run family the textfile has is on the dashboard.
    const unused = [...written].filter((name) => !used.has(name));
    assert.deepEqual(unused, []);
  });

  test('metricNames reads PromQL', () => {
    assert.deepEqual(
      metricNames('count(a_total{instance=~"$instance", name="x y"} > 0) or vector(0) and on (name) b / 3'),
      ['a_total', 'b'],
    );
    assert.deepEqual(metricNames('time() - max by (instance) (c_seconds[5m])'), ['c_seconds']);
  });
});
