/**
 * `items` grouped by `keyOf`: a Map from each key to its items, keys in order of first appearance, items in
 * their order. Linear in `items` (node 20 has no Map.groupBy).
 */
export function groupBy<T, K>(items: Iterable<T>, keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
