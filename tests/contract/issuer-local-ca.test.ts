/** The issuer contract against the local CA (kept in a filesystem store, created on first use). */
import { LocalCaIssuer } from '../../src/issuers/local-ca.js';
import type { LocalCaIssuerConfig } from '../../src/manifest/types.js';
import { localCaBlobKey } from '../../src/stores/keys.js';
import { tempDir } from '../harness/process.js';
import { filesystemStore, makeContext } from '../integration/acme-fixtures.js';
import { entryFor, issuerContract } from './issuer-contract.js';

issuerContract('local-ca', { remote: false }, async () => {
  const dir = await tempDir('cert-renew-issuer-contract-local-');
  const context = makeContext(dir.path);
  const config: LocalCaIssuerConfig = { type: 'local-ca' };
  let stores = 0;
  return {
    // The local CA sends no request: there is nothing to observe.
    makeIssuer: () => new LocalCaIssuer('local', config, context),
    isIssuing: () => true,
    makeStore: async () => filesystemStore(context, `store-${++stores}`),
    entry: (name, domains) => entryFor('local', config, name, domains),
    domains: ['contract.local.test', 'www.contract.local.test'],
    stateKeys: [localCaBlobKey('local')],
    cleanup: () => dir.remove(),
  };
});
