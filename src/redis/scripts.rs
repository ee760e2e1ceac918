//! The Lua scripts that change a path's state on the server.
//!
//! Every change that must see and update more than one key at once — a
//! write that checks the bound, a read that takes an entry and signals
//! room, the last writer's release that ends the stream — is one script,
//! which Redis runs atomically. Scripts run by their hash (`EVALSHA`); the
//! `redis` crate loads one again if the server forgot it (after a restart).
//!
//! The per-path scripts take the keys of one incarnation in the order
//! `meta, data, writers, readers, room` (see [`PathKeys`]). The scripts that
//! look a path up by name (`open`, `delete`, `broadcast`, `renew`) build
//! its keys from the namespace prefix they are given: that is why this
//! backend needs a standalone Redis, not a cluster.
//!
//! [`PathKeys`]: super::keys::PathKeys

use std::sync::OnceLock;

use ::redis::Script;

/// Helpers every script starts with.
const PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Ends the stream: `ended` is set and the end marker appended after the
-- last message, so that readers drain first and then meet it. A panicked
-- writer turns any end into `panic`.
local function finish(meta, data, how)
  redis.call('HSET', meta, 'ended', '1')
  if redis.call('HGET', meta, 'poisoned') == '1' then how = 'panic' end
  redis.call('XADD', data, '*', 'end', how)
end

-- Counts out the writers whose lease ran out (their process died or
-- stalled); ends the stream if that removed its last writer.
local function expire_writers(meta, data, writers, now)
  local expired = redis.call('ZREMRANGEBYSCORE', writers, '-inf', now)
  if expired > 0 and redis.call('ZCARD', writers) == 0
      and redis.call('HGET', meta, 'ended') ~= '1' then
    finish(meta, data, 'ok')
  end
end

-- A taken entry freed a slot: if the queue was full, a writer may be
-- waiting for room, so leave it a wake-up token (at most 64 kept).
local function signal_room(meta, room, len_before)
  local cap = tonumber(redis.call('HGET', meta, 'cap'))
  if cap and len_before >= cap then
    redis.call('LPUSH', room, '1')
    redis.call('LTRIM', room, 0, 63)
  end
end

local function keys_of(base)
  return base .. ':meta', base .. ':data', base .. ':writers', base .. ':readers', base .. ':room'
end
"#;

/// Finds or creates the path `ARGV[2]` and registers a writer or reader
/// lease on its current incarnation.
///
/// KEYS: paths, index, next. ARGV: prefix, name, mode, cap, role
/// (`writers` or `readers`), lease_ms. Returns `{'ok', id, cap, token}`,
/// `{'mode', stored_mode}` or `{'ended'}` (writers only).
const OPEN: &str = r#"
local prefix, name, mode, role = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local id = redis.call('HGET', KEYS[1], name)
if not id then
  id = tostring(redis.call('INCR', KEYS[3]))
  redis.call('HSET', KEYS[1], name, id)
  redis.call('ZADD', KEYS[2], 0, name)
  redis.call('HSET', prefix .. id .. ':meta', 'name', name, 'mode', mode, 'cap', ARGV[4])
end
local meta, data, writers = keys_of(prefix .. id)
local stored = redis.call('HMGET', meta, 'mode', 'cap')
if stored[1] ~= mode then return {'mode', tostring(stored[1])} end
local now = now_ms()
if role == 'writers' then
  expire_writers(meta, data, writers, now)
  if redis.call('HGET', meta, 'ended') == '1' then return {'ended'} end
end
local token = tostring(redis.call('INCR', KEYS[3]))
redis.call('ZADD', prefix .. id .. ':' .. role, now + tonumber(ARGV[6]), token)
return {'ok', id, stored[2], token}
"#;

/// Another writer on an incarnation (`try_clone`).
///
/// KEYS: the five path keys, then next. ARGV: lease_ms. Returns
/// `{'ok', token}`, `{'deleted'}` or `{'ended'}`.
const JOIN: &str = r#"
local m = redis.call('HMGET', KEYS[1], 'name', 'deleted')
if not m[1] or m[2] == '1' then return {'deleted'} end
local now = now_ms()
expire_writers(KEYS[1], KEYS[2], KEYS[3], now)
if redis.call('HGET', KEYS[1], 'ended') == '1' then return {'ended'} end
local token = tostring(redis.call('INCR', KEYS[6]))
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[1]), token)
return {'ok', token}
"#;

/// Appends one message if the stream is open and (in queue mode) has room.
///
/// KEYS: the five path keys. ARGV: the bytes. Returns 1 (appended), 0
/// (full), -1 (ended) or -2 (deleted).
const PUSH: &str = r#"
local m = redis.call('HMGET', KEYS[1], 'name', 'ended', 'deleted', 'mode', 'cap')
if not m[1] or m[3] == '1' then return -2 end
if m[2] == '1' then return -1 end
if m[4] == 'queue' and redis.call('XLEN', KEYS[2]) >= tonumber(m[5]) then return 0 end
redis.call('XADD', KEYS[2], '*', 'd', ARGV[1])
return 1
"#;

/// Takes the oldest message of a queue: removes it and hands it over in
/// one step, so that it goes to exactly one reader.
///
/// KEYS: the five path keys. Returns `{'d', bytes}`, `{'end', how}` (the
/// end marker, left in place for the other readers), `{'gone'}` (the
/// incarnation was freed) or `{'wait', last_id}` (empty: wait for an
/// entry after `last_id`).
const TAKE: &str = r#"
local function first() return redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1] end
local entry = first()
if not entry then
  if not redis.call('HGET', KEYS[1], 'name') then return {'gone'} end
  expire_writers(KEYS[1], KEYS[2], KEYS[3], now_ms())
  entry = first()
end
if not entry then
  local last = '0-0'
  if redis.call('EXISTS', KEYS[2]) == 1 then
    local info = redis.call('XINFO', 'STREAM', KEYS[2])
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then last = info[i + 1] end
    end
  end
  return {'wait', last}
end
local fields = entry[2]
if fields[1] ~= 'd' then return {'end', fields[2]} end
local len = redis.call('XLEN', KEYS[2])
redis.call('XDEL', KEYS[2], entry[1])
signal_room(KEYS[1], KEYS[5], len)
return {'d', fields[2]}
"#;

/// Takes the entry `ARGV[1]` that a blocked `XREAD` just returned, if no
/// other reader took it first. Entries older than it were all gone when
/// the reader began to wait, so it is the oldest.
///
/// KEYS: the five path keys. Returns 1 (taken) or 0 (someone else's).
const CLAIM: &str = r#"
local len = redis.call('XLEN', KEYS[2])
if redis.call('XDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
signal_room(KEYS[1], KEYS[5], len)
return 1
"#;

/// A writer leaves: its lease goes, and if it was the last writer the
/// stream ends.
///
/// KEYS: the five path keys. ARGV: token, poisoned (`1` if the writer's
/// thread was panicking).
const RELEASE: &str = r#"
if not redis.call('HGET', KEYS[1], 'name') then return 0 end
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'poisoned', '1') end
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('HGET', KEYS[1], 'ended') ~= '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now_ms())
  if redis.call('ZCARD', KEYS[3]) == 0 then finish(KEYS[1], KEYS[2], 'ok') end
end
return 1
"#;

/// A reader leaves; the last reader of a deleted incarnation frees it.
///
/// KEYS: the five path keys. ARGV: token.
const LEAVE: &str = r#"
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('HGET', KEYS[1], 'deleted') == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now_ms())
  if redis.call('ZCARD', KEYS[4]) == 0 then
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
  end
end
return 1
"#;

/// Run by a reader that waited a while without news: counts out writers
/// whose lease ran out (which may end the stream).
///
/// KEYS: the five path keys. Returns 1, or 0 if the incarnation is gone.
const CHECK: &str = r#"
if not redis.call('HGET', KEYS[1], 'name') then return 0 end
expire_writers(KEYS[1], KEYS[2], KEYS[3], now_ms())
return 1
"#;

/// Deletes a path: its name goes at once; its incarnation ends (waking
/// readers with the end marker and waiting writers with room tokens) and
/// is freed now if no reader is registered, else kept for `ARGV[3]` ms,
/// which the readers' lease renewals extend while they drain it.
///
/// KEYS: paths, index. ARGV: prefix, name, retain_ms. Returns 1 if the
/// path existed.
const DELETE: &str = r#"
local id = redis.call('HGET', KEYS[1], ARGV[2])
if not id then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
local meta, data, writers, readers, room = keys_of(ARGV[1] .. id)
local waiting = math.min(redis.call('ZCARD', writers) + 8, 64)
for _ = 1, waiting do redis.call('LPUSH', room, '1') end
redis.call('ZREMRANGEBYSCORE', readers, '-inf', now_ms())
if redis.call('ZCARD', readers) == 0 then
  redis.call('DEL', meta, data, writers, readers)
  -- The wake-up tokens outlive the path briefly for the writers to see.
  redis.call('PEXPIRE', room, 2000)
else
  redis.call('HSET', meta, 'deleted', '1')
  if redis.call('HGET', meta, 'ended') ~= '1' then finish(meta, data, 'deleted') end
  for _, key in ipairs({meta, data, writers, readers, room}) do
    redis.call('PEXPIRE', key, tonumber(ARGV[3]))
  end
end
return 1
"#;

/// Renews leases. ARGV: lease_ms, then triples of (base, role, token).
/// `ZADD XX` never brings back a lease that was already counted out. A
/// reader of a deleted incarnation also pushes back its expiry.
const RENEW: &str = r#"
local lease = tonumber(ARGV[1])
local now = now_ms()
for i = 2, #ARGV, 3 do
  local base, role, token = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('ZADD', base .. ':' .. role, 'XX', now + lease, token)
  if role == 'readers' and redis.call('HGET', base .. ':meta', 'deleted') == '1' then
    for _, key in ipairs({keys_of(base)}) do redis.call('PEXPIRE', key, 2 * lease) end
  end
end
return 1
"#;

/// One non-blocking delivery to every open path matching a prefix: those
/// with room get the message now, the full ones are returned for the
/// caller to wait on. Cost follows the matches (`ZRANGEBYLEX`).
///
/// KEYS: paths, index. ARGV: prefix, low, high, bytes. Returns
/// `{delivered, {name, id, name, id, ...}}` for the full paths, in name
/// order.
const BROADCAST: &str = r#"
local names = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[2], ARGV[3])
local delivered, full = 0, {}
local now = now_ms()
for _, name in ipairs(names) do
  local id = redis.call('HGET', KEYS[1], name)
  if id then
    local meta, data, writers = keys_of(ARGV[1] .. id)
    expire_writers(meta, data, writers, now)
    local m = redis.call('HMGET', meta, 'ended', 'mode', 'cap')
    if m[1] ~= '1' then
      if m[2] == 'queue' and redis.call('XLEN', data) >= tonumber(m[3]) then
        table.insert(full, name)
        table.insert(full, id)
      else
        redis.call('XADD', data, '*', 'd', ARGV[4])
        delivered = delivered + 1
      end
    end
  end
end
return {delivered, full}
"#;

/// The compiled scripts, made once per process.
pub(crate) struct Scripts {
    pub(crate) open: Script,
    pub(crate) join: Script,
    pub(crate) push: Script,
    pub(crate) take: Script,
    pub(crate) claim: Script,
    pub(crate) release: Script,
    pub(crate) leave: Script,
    pub(crate) check: Script,
    pub(crate) delete: Script,
    pub(crate) renew: Script,
    pub(crate) broadcast: Script,
}

/// The scripts, each with the prelude before it.
pub(crate) fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| {
        let make = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Scripts {
            open: make(OPEN),
            join: make(JOIN),
            push: make(PUSH),
            take: make(TAKE),
            claim: make(CLAIM),
            release: make(RELEASE),
            leave: make(LEAVE),
            check: make(CHECK),
            delete: make(DELETE),
            renew: make(RENEW),
            broadcast: make(BROADCAST),
        }
    })
}
