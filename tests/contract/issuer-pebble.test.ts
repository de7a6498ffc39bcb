/** The issuer contract against Pebble (ACME, validating http-01 for real on a standalone listener). */
import { AcmeIssuer } from '../../src/issuers/acme/issuer.js';
import type { AcmeIssuerConfig } from '../../src/manifest/types.js';
import { accountBlobKey } from '../../src/stores/keys.js';
import { httpsGet, startPebble } from '../harness/pebble.js';
import { tempDir } from '../harness/process.js';
import { FAST, filesystemStore, makeContext, resolved } from '../integration/acme-fixtures.js';
import { issuerContract } from './issuer-contract.js';

issuerContract('acme (Pebble)', { remote: true }, async () => {
  const pebble = await startPebble();
  const dir = await tempDir('cert-renew-issuer-contract-acme-');
  const context = makeContext(dir.path);
  const config: AcmeIssuerConfig = {
    type: 'acme',
    directory: pebble.directoryUrl,
    email: 'contract@example.test',
    caBundle: pebble.caBundlePath,
    challenge: { type: 'http-01', standalone: `127.0.0.1:${pebble.httpPort}` },
  };
  // Issuing requests: newOrder and finalize (Pebble's /finalize-order/…). newAccount is not counted: the
  // dry run posts to it too, with onlyReturnExisting, which creates nothing; that no account was set up
  // shows in the store (stateKeys).
  const directory = JSON.parse(await httpsGet(pebble.directoryUrl, pebble.caBundlePem)) as {
    newOrder: string;
  };
  let stores = 0;
  return {
    makeIssuer: (observe) =>
      new AcmeIssuer('pebble', config, context, {
        ...FAST,
        ...(observe ? { onRequest: (method, url) => observe({ method, url }) } : {}),
      }),
    isIssuing: ({ method, url }) =>
      method === 'POST' && (url === directory.newOrder || url.includes('/finalize-order/')),
    makeStore: async () => filesystemStore(context, `store-${++stores}`),
    entry: (name, domains) => resolved(name, domains, config),
    domains: ['contract.example.test', 'www.contract.example.test'],
    externalRoots: async () => [await pebble.roots()],
    stateKeys: [accountBlobKey('pebble', 'contract@example.test')],
    cleanup: async () => {
      await pebble.stop();
      await dir.remove();
    },
  };
});
