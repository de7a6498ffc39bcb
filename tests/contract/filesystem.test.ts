import { lifecycleContract } from './lifecycle-contract.js';
import { storeContract } from './store-contract.js';
import { filesystemTarget } from './targets.js';

storeContract('filesystem', filesystemTarget());
lifecycleContract('filesystem', filesystemTarget());
