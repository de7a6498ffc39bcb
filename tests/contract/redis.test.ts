import { lifecycleContract } from './lifecycle-contract.js';
import { storeContract } from './store-contract.js';
import { filesystemTarget, redisTarget, sharedRedis } from './targets.js';

const redis = sharedRedis();

storeContract('redis', redisTarget(redis));
storeContract('redis, private keys encrypted at rest', redisTarget(redis, { encrypted: true }));
storeContract(
  'filesystem with locks in a Redis store',
  filesystemTarget({ name: 'shared', target: redisTarget(redis) }),
);
lifecycleContract('redis', redisTarget(redis));
