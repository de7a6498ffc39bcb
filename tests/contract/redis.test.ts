import { RedisStore } from '../../src/stores/redis/index.js';
import { startRedis } from '../harness/redis.js';
import { testContext } from './fixtures.js';
import { storeContract } from './store-contract.js';

storeContract('redis', async () => {
  const redis = await startRedis();
  return {
    store: await RedisStore.open('shared', { type: 'redis', url: redis.url }, testContext(redis.dir)),
    cleanup: () => redis.stop(),
  };
});
