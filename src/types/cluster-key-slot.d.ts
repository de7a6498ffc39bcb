declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot (0–16383) of `key`: CRC16 of its hash tag (or of the whole key). */
  function calculateSlot(key: string | Buffer): number;
  export = calculateSlot;
}
