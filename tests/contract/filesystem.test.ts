import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { testContext } from './fixtures.js';
import { storeContract } from './store-contract.js';

storeContract('filesystem', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cert-renew-fs-contract-'));
  return {
    store: new FilesystemStore('files', { type: 'filesystem', path: 'certs' }, testContext(dir)),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
