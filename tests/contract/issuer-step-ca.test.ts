/** The issuer contract against a real step-ca (built by the harness), through its JWK provisioner. */
import { StepCaIssuer } from '../../src/issuers/step-ca/issuer.js';
import type { StepCaIssuerConfig } from '../../src/manifest/types.js';
import { tempDir } from '../harness/process.js';
import { startStepCa } from '../harness/step-ca.js';
import { filesystemStore, makeContext } from '../integration/acme-fixtures.js';
import { entryFor, issuerContract } from './issuer-contract.js';

issuerContract('step-ca', { remote: true }, async () => {
  const ca = await startStepCa();
  const dir = await tempDir('cert-renew-issuer-contract-step-ca-');
  const context = makeContext(dir.path, { env: { STEP_CA_PASSWORD: ca.password } });
  const config: StepCaIssuerConfig = {
    type: 'step-ca',
    url: ca.url,
    rootFingerprint: ca.rootFingerprint,
    provisioner: ca.provisioner,
    password: { env: 'STEP_CA_PASSWORD' },
  };
  let stores = 0;
  return {
    makeIssuer: (observe) =>
      new StepCaIssuer('internal', config, context, {
        ...(observe ? { onRequest: (method, url) => observe({ method, url }) } : {}),
      }),
    isIssuing: ({ method, url }) => method === 'POST' && /\/1\.0\/(sign|renew)$/.test(new URL(url).pathname),
    makeStore: async () => filesystemStore(context, `store-${++stores}`),
    entry: (name, domains) => entryFor('internal', config, name, domains),
    domains: ['contract.internal.test', 'www.contract.internal.test'],
    // step-ca keeps no state of the issuer's in the store.
    stateKeys: [],
    cleanup: async () => {
      await ca.stop();
      await dir.remove();
    },
  };
});
