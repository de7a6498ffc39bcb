import { storeContract } from './store-contract.js';
import { filesystemTarget } from './targets.js';

storeContract('filesystem', filesystemTarget());
