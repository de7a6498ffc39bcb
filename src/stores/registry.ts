import type { StoreConfig } from '../manifest/types.js';
import type { RuntimeContext } from '../runtime/context.js';
import type { Store } from './types.js';

/** Each store is imported only when a manifest uses it (ioredis costs start-up time). */
export async function createStore(
  name: string,
  config: StoreConfig,
  context: RuntimeContext,
): Promise<Store> {
  switch (config.type) {
    case 'filesystem': {
      const { FilesystemStore } = await import('./filesystem/index.js');
      return new FilesystemStore(name, config, context);
    }
    case 'redis': {
      const { RedisStore } = await import('./redis/index.js');
      return RedisStore.open(name, config, context);
    }
  }
}
