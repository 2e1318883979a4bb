/**
 * The Redis store's operations, each one Lua script so that every check and
 * its write happen atomically on the server: no read-then-write race between
 * brokers. Layout under the prefix P (ids are HMACs, see sealing.ts):
 *
 *   P f:<id>    hash  r = sealed record, t = created (ms, Redis clock), e = expires,
 *                     q = sealed request (set when started), o = sealed outcome,
 *                     c = id of its code
 *   P c:<cid>   string: the flow id a delivered code belongs to (same expiry as the flow)
 *   P w:<id>    string: the claim of the flow's one waiter, with its lease as expiry
 *   P s:<rid>   string: sealed subject of a refresh token the broker handed out
 *   P live      sorted set of live flow ids scored by expiry: the shared cap
 *   P epoch     counter bumped by every clear
 *   channels:   P ch:<id> ("outcome" | "gone"), P clear (the new epoch)
 *
 * Time comes from Redis (TIME), so brokers with skewed clocks share one cap.
 * Key names built inside scripts (from a stored id) rule out Redis Cluster;
 * a single Redis (or a primary with replicas) is what this store supports.
 */
import { defineScript, type CommandParser } from 'redis';

/** A script's reply: what Lua returns, as RESP2 hands it over. */
export type Reply = string | number | null | Reply[];

/**
 * node-redis sends EVALSHA and falls back to EVAL on NOSCRIPT (a restarted
 * Redis) itself. The key count varies per call (COMPLETE names the code's key
 * only for a code), so each call passes its keys and node-redis counts them.
 */
function script<const NAME extends string>(name: NAME, source: string) {
  return {
    ...defineScript({
      SCRIPT: source,
      parseCommand(parser: CommandParser, keys: readonly string[], args: readonly string[]) {
        parser.pushKeysLength([...keys]);
        parser.push(...args);
      },
      transformReply: (reply: unknown) => reply as Reply,
    }),
    /** The method the client has for it (`createClient({ scripts: SCRIPTS })`). */
    NAME: name,
  };
}

const NOW = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;

const FIELDS = `'r', 't', 'e', 'q', 'o'`;

/**
 * KEYS: flow, live. ARGV: id, ttlMs (of a flow nobody starts), maxFlows, sealed record.
 * → {'ok', now} | {'dup'} | {'full', msUntilAPlaceFrees}
 */
export const CREATE = script(
  'flowCreate',
  `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('EXISTS', KEYS[1]) == 1 then return {'dup'} end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  local wait = 1000
  if oldest[2] then wait = tonumber(oldest[2]) - now end
  return {'full', string.format('%.0f', wait)}
end
local ttl = tonumber(ARGV[2])
local expires = string.format('%.0f', now + ttl)
redis.call('HSET', KEYS[1], 'r', ARGV[4], 't', string.format('%.0f', now), 'e', expires)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], expires, ARGV[1])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return {'ok', string.format('%.0f', now)}
`,
);

/** KEYS: flow, epoch. → {r, t, e, q, o, pttl, epoch} (absent fields nil) */
export const INSPECT = script(
  'flowInspect',
  `
local v = redis.call('HMGET', KEYS[1], ${FIELDS})
return {v[1], v[2], v[3], v[4], v[5], redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]) or '0'}
`,
);

/**
 * KEYS: flow, live. ARGV: sealed request, ttlMs, id. → the started fields, or
 * nil when the flow is gone, already started or has its outcome. From here
 * the flow lives ttlMs.
 */
export const START = script(
  'flowStart',
  `${NOW}
local v = redis.call('HMGET', KEYS[1], 'r', 'q', 'o')
if not v[1] or v[2] or v[3] then return false end
local ttl = tonumber(ARGV[2])
local expires = string.format('%.0f', now + ttl)
redis.call('HSET', KEYS[1], 'q', ARGV[1], 'e', expires)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], expires, ARGV[3])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return redis.call('HMGET', KEYS[1], ${FIELDS})
`,
);

/** KEYS: flow, claim. ARGV: claim token, leaseMs. → {'ok', r, t, e, q, o} | {'busy'} | {'gone'} */
export const CLAIM = script(
  'flowClaim',
  `
local v = redis.call('HMGET', KEYS[1], ${FIELDS})
if not v[1] then return {'gone'} end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'busy'} end
return {'ok', v[1], v[2], v[3], v[4], v[5]}
`,
);

/** KEYS: claim. ARGV: claim token. Deletes the claim only while it is this waiter's. */
export const RELEASE = script(
  'flowRelease',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`,
);

/**
 * KEYS: flow[, code index]. ARGV: sealed outcome, code id ('' for an error
 * outcome), flow id, channel. → the completed fields, or nil when the flow is
 * gone or already has its outcome (the first completion wins).
 */
export const COMPLETE = script(
  'flowComplete',
  `
local v = redis.call('HMGET', KEYS[1], 'r', 'o')
if not v[1] or v[2] then return false end
redis.call('HSET', KEYS[1], 'o', ARGV[1])
if ARGV[2] ~= '' then
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl < 1 then pttl = 1 end
  redis.call('HSET', KEYS[1], 'c', ARGV[2])
  redis.call('SET', KEYS[2], ARGV[3], 'PX', pttl)
end
redis.call('PUBLISH', ARGV[4], 'outcome')
return redis.call('HMGET', KEYS[1], ${FIELDS})
`,
);

/** KEYS: code index. ARGV: flow key prefix, code id. → {id, r, t, e, q, o}, or nil; changes nothing. */
export const FIND = script(
  'flowFind',
  `
local id = redis.call('GET', KEYS[1])
if not id then return false end
local v = redis.call('HMGET', ARGV[1] .. id, ${FIELDS}, 'c')
if not v[1] or v[6] ~= ARGV[2] then return false end
return {id, v[1], v[2], v[3], v[4], v[5]}
`,
);

/**
 * KEYS: code index, live. ARGV: flow key prefix, code id, claim key prefix.
 * → {id, r, t, e, q, o} (and the flow is gone), or nil.
 */
export const REDEEM = script(
  'flowRedeem',
  `
local id = redis.call('GETDEL', KEYS[1])
if not id then return false end
local flow = ARGV[1] .. id
local v = redis.call('HMGET', flow, ${FIELDS}, 'c')
if not v[1] or v[6] ~= ARGV[2] then return false end
redis.call('DEL', flow, ARGV[3] .. id)
redis.call('ZREM', KEYS[2], id)
return {id, v[1], v[2], v[3], v[4], v[5]}
`,
);

/** KEYS: flow, live, claim. ARGV: code key prefix, id, channel. */
export const DELETE = script(
  'flowDelete',
  `
local code = redis.call('HGET', KEYS[1], 'c')
if code then redis.call('DEL', ARGV[1] .. code) end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[3], 'gone')
return 1
`,
);

/** KEYS: live, epoch. ARGV: flow key prefix, code key prefix, clear channel, claim key prefix. → flows forgotten. */
export const CLEAR = script(
  'flowClear',
  `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  local flow = ARGV[1] .. id
  local code = redis.call('HGET', flow, 'c')
  if code then redis.call('DEL', ARGV[2] .. code) end
  redis.call('DEL', flow, ARGV[4] .. id)
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[3], redis.call('INCR', KEYS[2]))
return #ids
`,
);

/** KEYS: live. → live flows. */
export const SIZE = script(
  'flowSize',
  `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
`,
);

/** Every script, under its method name (prefixed: the client's own commands share the namespace). */
export const SCRIPTS = {
  flowCreate: CREATE,
  flowInspect: INSPECT,
  flowStart: START,
  flowClaim: CLAIM,
  flowRelease: RELEASE,
  flowComplete: COMPLETE,
  flowFind: FIND,
  flowRedeem: REDEEM,
  flowDelete: DELETE,
  flowClear: CLEAR,
  flowSize: SIZE,
};

export type StoreScript = (typeof SCRIPTS)[keyof typeof SCRIPTS];
