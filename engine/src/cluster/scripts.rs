//! The Lua scripts that make each cluster step atomic in Redis. On a single Redis they
//! are loaded once per connection (`SCRIPT LOAD`) and called by their SHA; on a Redis
//! Cluster they are sent with `EVAL`. Every key a script touches is in its KEYS and in
//! one hash slot (a conversation's keys share the tag `{c:<id>}`), so they run on a
//! Redis Cluster as written; what spans slots (the owned sets, the registry, presence)
//! is done by the bridge around them.

/// A fenced append: the new items go to the log (capped) and, when the event stream
/// is given as KEYS[3] (single Redis: same script, so exactly once), to the admin
/// stream; the state replaces the stored one — only if this node's fencing token is
/// current and the log has not moved on. Returns `ok`, `fenced`, `exists` (a create of
/// a known conversation) or `gone`.
///
/// KEYS: conversation hash, its log, [the event stream].
/// ARGV: fence, owner node, create (0/1), state JSON (empty: unchanged), first seq, next seq, history
/// length, event stream length, conversation id, this run's incarnation, expiry ms
/// (an ended conversation's keys go after its retention; 0: none), then (kind, item
/// JSON) pairs.
pub const APPEND: &str = r"
local fence = redis.call('HGET', KEYS[1], 'fence')
if ARGV[3] == '1' then
  if fence then return 'exists' end
else
  if not fence then return 'gone' end
  if fence ~= ARGV[1] then return 'fenced' end
  if redis.call('HGET', KEYS[1], 'next_seq') ~= ARGV[5] then return 'fenced' end
end
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'inc', ARGV[10]) end
redis.call('HSET', KEYS[1], 'fence', ARGV[1], 'owner', ARGV[2], 'next_seq', ARGV[6])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'state', ARGV[4]) end
local i = 12
while i < #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i + 1])
  if KEYS[3] then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'conv', ARGV[9], 'kind', ARGV[i], 'item', ARGV[i + 1])
  end
  i = i + 2
end
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[7]), -1)
if tonumber(ARGV[11]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[11])
  redis.call('PEXPIRE', KEYS[2], ARGV[11])
end
return 'ok'
";

/// Where a conversation lives. Unknown → `{'unknown'}`; owned by a live node (one of
/// the numbers the caller lists as alive) → `{'remote', n}`; otherwise (ours, or its
/// owner is dead, or was an earlier run of this node's number) this node takes it —
/// a new fencing token if it was not ours in this run — and gets `{'here', fence,
/// state, taken (0/1), previous owner, evented mark, next seq, item...}`.
///
/// KEYS: conversation hash, its log.
/// ARGV: this node's number, conversation id, this run's incarnation, then the numbers
/// of the nodes alive.
pub const RESOLVE: &str = r"
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return {'unknown'} end
local inc = redis.call('HGET', KEYS[1], 'inc')
if owner ~= ARGV[1] then
  for i = 4, #ARGV do
    if ARGV[i] == owner then return {'remote', owner} end
  end
end
local taken = '0'
if owner ~= ARGV[1] or inc ~= ARGV[3] then
  taken = '1'
  redis.call('HINCRBY', KEYS[1], 'fence', 1)
  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'inc', ARGV[3])
end
local h = redis.call('HMGET', KEYS[1], 'fence', 'state', 'evented', 'next_seq')
local out = {'here', h[1], h[2], taken, owner, h[3] or '0', h[4]}
for _, item in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do out[#out + 1] = item end
return out
";

/// Renews this node's registry entry. Returns 1; 2 when the entry had expired (the
/// node was away longer than the TTL, so others may have taken its conversations);
/// 0 when another run took its number meanwhile (this node must stop).
///
/// KEYS: the node key. ARGV: entry JSON, TTL ms, `"incarnation":<id>` marker.
pub const HEARTBEAT: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and not string.find(cur, ARGV[3], 1, true) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if cur then return 1 end
return 2
";

/// Takes or renews the router lease; returns the leader's number.
///
/// KEYS: the leader key. ARGV: this node's number, TTL ms.
pub const LEADER: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return cur
";
