/**
 * The plan as a composition: gather (I/O) → decide each record (pure) → build the plan (pure). Nothing here
 * but the order of those steps and the batching that keeps memory flat.
 */
import type { ResolvedCertificate } from '../manifest/types.js';
import type { Session } from '../runtime/session.js';
import { buildPlan, planRecord } from './build-plan.js';
import { type GatherOptions, gather } from './gather.js';
import type { PlannedRecord, PlannedRun, PlanOptions } from './model.js';

/**
 * Certificates gathered and decided per batch; only the decisions and metadata are kept. What a batch reads
 * is garbage once decided, and V8 promotes it to the old generation before it dies, so the batch size sets
 * how much garbage the heap grows by between full collections. Planning 10,000 certificates peaked at
 * 188 MB (Redis) and 142 MB (filesystem) with 1,000, at 159 and 138 MB with 250 (docs/performance.md). With
 * V8's heap kept tight for large manifests (runtime/heap.ts), 100 peaks 2–3 MB lower than 250 on Redis in
 * the same time (one more round trip per 100 certificates); 50 and 25 gained nothing more.
 */
export const PLAN_BATCH = 100;

/**
 * Gathers and decides `entries` (already selected: `--only`, `--shard`) and returns the plan with one
 * planned record per entry, in the same order.
 *
 * Batches of PLAN_BATCH: each batch is read (batched per store), decided and its PEMs dropped, so a
 * manifest of many thousands never holds every certificate and key in memory at once. The result is the
 * plan that deciding everything at once would give. A store that cannot be read makes `error` items and
 * an ARI failure is only logged (see `gather`), so nothing a store or issuer does makes it throw.
 */
export async function makePlan(
  session: Pick<Session, 'store' | 'issuer'>,
  entries: ResolvedCertificate[],
  options: GatherOptions & { plan: PlanOptions },
): Promise<PlannedRun> {
  const records: PlannedRecord[] = [];
  for (let start = 0; start < entries.length; start += PLAN_BATCH) {
    const gathered = await gather(session, entries.slice(start, start + PLAN_BATCH), options);
    for (const record of gathered) records.push(planRecord(record, options.plan));
  }
  return buildPlan(records, options.plan);
}
