/** The Redis store's save script, shared by the save (index.ts) and the dry run's check (check.ts). */

/**
 * The save, all or nothing: checks the types of `cert:{name}` (KEYS[1], a string) and `history:{name}`
 * (KEYS[2], a list) before writing anything — inside MULTI/EXEC a WRONGTYPE LPUSH would fail while the SET
 * still ran, losing the previous version — then pushes the current value to the history, trims it to
 * ARGV[2] entries (0: drops it) and SETs ARGV[1]. Returns `{key, type}` of a wrongly typed key, or 'OK'.
 * A script rather than WATCH + MULTI: WATCH belongs to the connection, which ioredis shares between
 * concurrent saves (another save's EXEC would drop our WATCH); EVAL is needed anyway (locks, rollback).
 */
export const SAVE_SCRIPT = `
local ct = redis.call('TYPE', KEYS[1]).ok
if ct ~= 'none' and ct ~= 'string' then return {KEYS[1], ct} end
local ht = redis.call('TYPE', KEYS[2]).ok
if ht ~= 'none' and ht ~= 'list' then return {KEYS[2], ht} end
local keep = tonumber(ARGV[2])
local previous = redis.call('GET', KEYS[1])
if keep == 0 then redis.call('DEL', KEYS[2])
elseif previous then redis.call('LPUSH', KEYS[2], previous) redis.call('LTRIM', KEYS[2], 0, keep - 1) end
redis.call('SET', KEYS[1], ARGV[1])
return 'OK'`;
