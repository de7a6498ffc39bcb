/** Planning over 10,000 certificates in a Redis store (a local redis-server started for the benchmark). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisStore } from '../../src/stores/redis/index.js';
import { mapLimit } from '../../src/util/pool.js';
import { startRedis } from '../../tests/harness/redis.js';
import { CRON_ENV, median, record, type Section, timeCommand } from '../lib.js';
import { benchCertificate, benchContext, benchManifest, COUNT, timedPlans } from './core.js';

const MEASURE = fileURLToPath(new URL('../measure.js', import.meta.url));

async function planRedis(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cert-renew-bench-'));
  const redis = await startRedis();
  try {
    const { bundle, meta } = await benchCertificate(dir);
    const config = { type: 'redis' as const, url: redis.url };
    const store = await RedisStore.open('bench', config, benchContext(dir));
    const names = Array.from({ length: COUNT }, (_, i) => `cert-${String(i).padStart(5, '0')}`);
    const started = Date.now();
    try {
      // Many saves in flight on one connection: ioredis pipelines them.
      await mapLimit(names, 128, (name) => store.save(name, bundle, { ...meta, name }));
    } finally {
      await store.close();
    }
    const populateMs = Date.now() - started;
    const manifest = join(dir, 'manifest.json');
    await writeFile(manifest, JSON.stringify(benchManifest(config, COUNT)));
    const runs = 3;
    // `validate` reads the same manifest without touching Redis: what of the plan's time is not Redis.
    const validations: number[] = [];
    const timings = await timedPlans(manifest, runs, async () => {
      validations.push(
        (await timeCommand(process.execPath, [MEASURE, 'validate', manifest], CRON_ENV, true)).ms,
      );
    });
    await record('plan-redis', {
      certificates: COUNT,
      runs,
      planMedianMs: Math.round(median(timings.map((t) => t.ms))),
      planCpuMedianMs: Math.round(median(timings.map((t) => (t.cpuUs ?? 0) / 1000))),
      loadAverage1m: Number((loadavg()[0] ?? 0).toFixed(2)),
      validateMedianMs: Math.round(median(validations)),
      peakRssMb: Math.round(Math.max(...timings.map((t) => t.maxRssKb ?? 0)) / 1024),
      populateMs,
      redisUsedMemoryMb: Math.round(
        Number(/^used_memory:(\d+)/m.exec(await redis.cli('INFO', 'memory'))?.[1] ?? 0) / 1024 / 1024,
      ),
      target: 'about a second',
    });
  } finally {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export function register(sections: Map<string, Section>): void {
  sections.set('plan-redis', planRedis);
}
