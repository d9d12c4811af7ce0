"""Key names and Lua scripts of the Redis Streams queue; each script touches one queue's slot.

Per queue `Q` (hash tag `{q:Q}`, so every script's keys share one Redis Cluster slot):

* `…:o:<owner>` a stream per owner, consumer group `workers`: entries wait undelivered, leased
  ones sit in a consumer's pending list until acked (then they are deleted);
* `…:ids` hash prediction id -> "<entry id> <owner>": idempotent enqueue, ack and remove;
* `…:waiting` sorted set prediction id -> enqueued_at: depth and oldest age;
* `…:owners` list of owners with waiting items, rotated by each lease (fairness);
* `…:counts` hash owner -> items waiting; `…:streams` set of owners that have a stream.

Global: `queues` (set of queue names), `where` (hash prediction id -> queue) and
`queue-signals` (a capped stream naming the queue of each enqueue: it wakes dispatch loops).
"""

from __future__ import annotations

GROUP = "workers"
SIGNALS_KEPT = 1000  # entries of the signal stream kept (approximately)


class Keys:
    """The key names under one prefix (a test gives each run its own)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queues = f"{prefix}queues"
        self.where = f"{prefix}where"
        self.signals = f"{prefix}queue-signals"

    def of(self, queue: str) -> tuple[str, str, str, str, str]:
        """ids, waiting, owners, counts and streams of `queue`."""
        base = f"{self.prefix}{{q:{queue}}}"
        return (
            f"{base}:ids",
            f"{base}:waiting",
            f"{base}:owners",
            f"{base}:counts",
            f"{base}:streams",
        )

    def stream_prefix(self, queue: str) -> str:
        return f"{self.prefix}{{q:{queue}}}:o:"


# Field lists of stream entries are flat: pid, owner, at.
_FIELDS = """
local function fields(flat)
  local f = {}
  for j = 1, #flat, 2 do f[flat[j]] = flat[j + 1] end
  return f
end
local function split(v)
  local sp = string.find(v, ' ', 1, true)
  return string.sub(v, 1, sp - 1), string.sub(v, sp + 1)
end
local function gone(counts, owners, owner)
  redis.call('HDEL', counts, owner)
  redis.call('LREM', owners, 0, owner)
end
"""

# KEYS: ids, waiting, owners, counts, streams; ARGV: pid, owner, at, group, stream prefix,
# hardware ('' for none).
ENQUEUE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local stream = ARGV[5] .. ARGV[2]
if redis.call('EXISTS', stream) == 0 then
  redis.call('XGROUP', 'CREATE', stream, ARGV[4], '0', 'MKSTREAM')
end
local id = redis.call('XADD', stream, '*', 'pid', ARGV[1], 'owner', ARGV[2], 'at', ARGV[3],
  'hw', ARGV[6])
redis.call('HSET', KEYS[1], ARGV[1], id .. ' ' .. ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[2])
if redis.call('HINCRBY', KEYS[4], ARGV[2], 1) == 1 then
  redis.call('RPUSH', KEYS[3], ARGV[2])
end
return 1
"""

# KEYS: ids, waiting, owners, counts; ARGV: group, consumer, stream prefix.
# Returns {entry id, pid, owner, at, hardware} or nil. The owner served moves to the back of
# the rotation.
LEASE = (
    _FIELDS
    + """
local n = redis.call('LLEN', KEYS[3])
for i = 1, n do
  local owner = redis.call('LMOVE', KEYS[3], KEYS[3], 'LEFT', 'RIGHT')
  if not owner then return nil end
  local got = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1,
    'STREAMS', ARGV[3] .. owner, '>')
  local entry = nil
  if type(got) == 'table' and got.err == nil and got[1] then entry = got[1][2][1] end
  if entry == nil then
    gone(KEYS[4], KEYS[3], owner)
  else
    if redis.call('HINCRBY', KEYS[4], owner, -1) <= 0 then gone(KEYS[4], KEYS[3], owner) end
    local f = fields(entry[2])
    redis.call('ZREM', KEYS[2], f.pid)
    return {entry[1], f.pid, owner, f.at, f.hw or ''}
  end
end
return nil
"""
)

# KEYS: ids, waiting; ARGV: group, pid, stream prefix, entry id leased ('' if unknown here).
# A waiting item is not acked, nor an entry that replaced the one leased (put back, re-leased).
ACK = (
    _FIELDS
    + """
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 0 end
local v = redis.call('HGET', KEYS[1], ARGV[2])
if not v then return 0 end
local id, owner = split(v)
if ARGV[4] ~= '' and ARGV[4] ~= id then return 0 end
redis.call('XACK', ARGV[3] .. owner, ARGV[1], id)
redis.call('XDEL', ARGV[3] .. owner, id)
redis.call('HDEL', KEYS[1], ARGV[2])
return 1
"""
)

# KEYS: ids, waiting, owners, counts; ARGV: pid, stream prefix. Only a waiting item goes.
# Returns nil, or {hardware} of the item removed.
REMOVE = (
    _FIELDS
    + """
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return nil end
redis.call('ZREM', KEYS[2], ARGV[1])
local v = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
local hw = ''
if v then
  local id, owner = split(v)
  local entry = redis.call('XRANGE', ARGV[2] .. owner, id, id)
  if entry[1] then hw = fields(entry[1][2]).hw or '' end
  redis.call('XDEL', ARGV[2] .. owner, id)
  if redis.call('HINCRBY', KEYS[4], owner, -1) <= 0 then gone(KEYS[4], KEYS[3], owner) end
end
return {hw}
"""
)

# KEYS: ids, waiting, owners, counts, streams; ARGV: group, consumer, min idle ms, stream
# prefix, owner, lost consumer ('' for any). Leases idle that long (or all of the lost
# consumer's) become waiting entries again, at the back of their owner's line; an emptied
# stream is dropped (the next enqueue creates it and its group again). Returns pid, hardware,
# pid, hardware, ...
RECLAIM = (
    _FIELDS
    + """
local stream = ARGV[4] .. ARGV[5]
local claimed = {}
if redis.call('EXISTS', stream) == 1 then
  if ARGV[6] == '' then
    local cursor = '0-0'
    repeat
      local got = redis.call('XAUTOCLAIM', stream, ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT', 100)
      cursor = got[1]
      for _, e in ipairs(got[2]) do table.insert(claimed, e) end
    until cursor == '0-0'
  else
    local pending = redis.call('XPENDING', stream, ARGV[1], 'IDLE', ARGV[3], '-', '+', 1000,
      ARGV[6])
    local ids = {}
    for _, p in ipairs(pending) do table.insert(ids, p[1]) end
    if #ids > 0 then
      claimed = redis.call('XCLAIM', stream, ARGV[1], ARGV[2], ARGV[3], unpack(ids))
    end
  end
end
local back = {}
for _, e in ipairs(claimed) do
  if e and e[2] then
    local f = fields(e[2])
    redis.call('XACK', stream, ARGV[1], e[1])
    redis.call('XDEL', stream, e[1])
    local v = redis.call('HGET', KEYS[1], f.pid)
    if v and split(v) == e[1] then
      local id = redis.call('XADD', stream, '*', 'pid', f.pid, 'owner', ARGV[5], 'at', f.at,
        'hw', f.hw or '')
      redis.call('HSET', KEYS[1], f.pid, id .. ' ' .. ARGV[5])
      redis.call('ZADD', KEYS[2], f.at, f.pid)
      if redis.call('HINCRBY', KEYS[4], ARGV[5], 1) == 1 then
        redis.call('RPUSH', KEYS[3], ARGV[5])
      end
      table.insert(back, f.pid)
      table.insert(back, f.hw or '')
    end
  end
end
if redis.call('XLEN', stream) == 0 and not redis.call('HGET', KEYS[4], ARGV[5]) then
  redis.call('DEL', stream)
  redis.call('SREM', KEYS[5], ARGV[5])
end
return back
"""
)

# Demand streams (`demand:<hardware>`, group `workers`): one entry per waiting item of that
# hardware class, read as items are leased or removed, so the group's lag is what waits there
# (KEDA's redis-streams trigger scales each class's workers on it, to zero).
# KEYS: the demand stream; ARGV: group.
DEMAND_ADD = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
end
return redis.call('XADD', KEYS[1], '*', 'n', '1')
"""

# KEYS: the demand stream; ARGV: group, consumer. Reads one entry and deletes it.
DEMAND_TAKE = """
local got = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1,
  'STREAMS', KEYS[1], '>')
if type(got) ~= 'table' or got.err ~= nil or not got[1] then return 0 end
local id = got[1][2][1][1]
redis.call('XACK', KEYS[1], ARGV[1], id)
redis.call('XDEL', KEYS[1], id)
return 1
"""
