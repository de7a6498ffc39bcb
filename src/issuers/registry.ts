import type { IssuerConfig } from '../manifest/types.js';
import type { RuntimeContext } from '../runtime/context.js';
import type { Issuer } from './types.js';

/** Each issuer is imported only when a manifest uses it (acme-client costs start-up time). */
export async function createIssuer(
  name: string,
  config: IssuerConfig,
  context: RuntimeContext,
): Promise<Issuer> {
  switch (config.type) {
    case 'local-ca': {
      const { LocalCaIssuer } = await import('./local-ca.js');
      return new LocalCaIssuer(name, config, context);
    }
    case 'acme': {
      const { AcmeIssuer } = await import('./acme/issuer.js');
      return new AcmeIssuer(name, config, context);
    }
    case 'step-ca': {
      const { StepCaIssuer } = await import('./step-ca/issuer.js');
      return new StepCaIssuer(name, config, context);
    }
  }
}
