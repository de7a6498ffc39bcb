/**
 * A preload (`node --import`) for the unfinished-command test: ioredis' Cluster#connect never settles, as
 * ioredis 5 leaves it once its own ready check saw cluster_state:fail and its clusterRetryStrategy gave up
 * (trial 15, fault 1). Everything else — the CLI, the cluster, the sockets — is real: the CLI's event loop
 * empties with its command unfinished, which is what bin/cert-renew's guard must catch.
 */
import { Cluster } from 'ioredis';

Cluster.prototype.connect = () => new Promise<void>(() => undefined);
