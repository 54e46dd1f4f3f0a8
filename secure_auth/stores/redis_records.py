"""How a session lies in Redis: its record under one key, its token cache under another.

The record (who, since when, the CSRF token: under a kilobyte) is what a page view reads.
The token cache (several kilobytes, sealed with TOKEN_CACHE_KEY so a dump holds no usable
token) lies beside it and only the token service reads it. Both carry the same expiry and
are written together. Values are JSON, never pickle: a stolen dump cannot execute code.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from secure_auth.crypto.sealing import SEALED_PREFIX, Sealer
from secure_auth.stores.base import TOKEN_CACHE_NOT_READ

logger = logging.getLogger("secure_auth.redis")

# One page view, as a function for stores/redis_batch.py to run for each page view of a
# batch: `keys` are its rate-limit counters, then its session record if it has one; `argv`
# holds each counter's window. Every key is named by the caller (the script reads no key it
# was not given), as Redis asks of scripts, and each is under the app's prefix: an ACL user
# limited to it (deploy/redis) passes.
COUNT_AND_GET = """
local function call(keys, argv)
  local replies = {}
  for i = 1, #argv do
    local count = redis.call('INCR', keys[i])
    if count == 1 then redis.call('EXPIRE', keys[i], argv[i]) end
    replies[i] = count
  end
  replies[#argv + 1] = #keys > #argv and redis.call('GET', keys[#keys]) or false
  return replies
end
"""
# Writes a session back only while it exists (an update never revives an ended session),
# with its token cache. KEYS: the record, the token cache; ARGV: the record, the expiry in
# milliseconds, then what to do with the cache: "set" (ARGV[4] holds it), "delete", or
# "keep" (the writer did not mean to change it: only its expiry follows the record's). To
# keep a cache that the stored record holds itself (written by code from before caches had
# a key of their own, during a rolling reload too) is to move it beside the record.
REPLACE = """
local action, tokens = ARGV[3], ARGV[4]
if action == 'keep' then
  local old = redis.call('GET', KEYS[1])
  local ok, record = pcall(cjson.decode, old or '')
  if ok and type(record) == 'table' and type(record.token_cache) == 'string' and record.token_cache ~= '' then
    action, tokens = 'set', record.token_cache
  end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX') then return 0 end
if action == 'set' then redis.call('SET', KEYS[2], tokens, 'PX', ARGV[2])
elseif action == 'keep' then redis.call('PEXPIRE', KEYS[2], ARGV[2])
else redis.call('DEL', KEYS[2]) end
return 1
"""


class SessionRecords:
    def __init__(self, prefix: str, sealer: Sealer | None) -> None:
        self.prefix = prefix
        self.sealer = sealer

    def key(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def tokens_key(self, session_id: str) -> str:
        return f"{self.prefix}tokens:{session_id}"

    def keys(self, session_id: str) -> list[str]:
        return [self.key(session_id), self.tokens_key(session_id)]

    def encode(self, session_id: str, record: dict[str, Any]) -> tuple[str, str | None]:
        """The record as stored (without its token cache), and the token cache as stored:
        sealed when there is a TOKEN_CACHE_KEY, "" for none, None when the writer never read it."""
        tokens = record.get("token_cache") or ""
        stored = json.dumps(
            {name: value for name, value in record.items() if name != "token_cache"}, separators=(",", ":")
        )
        if tokens == TOKEN_CACHE_NOT_READ:
            return stored, None
        if self.sealer is not None and isinstance(tokens, str) and tokens and not tokens.startswith(SEALED_PREFIX):
            # Bound to the record's key: it opens for this session under this prefix only.
            tokens = self.sealer.seal(tokens, context=self.key(session_id).encode("utf-8"))
        return stored, tokens

    def decode(self, session_id: str, raw: str, *, tokens: str | None) -> dict[str, Any]:
        """A stored record with its token cache, opened; `tokens` None: not read (a page
        view), and so marked. A record written by code from before caches had a key of their
        own may hold a cache itself (during a rolling reload, too): a cache there is the
        newest, read as before and moved out by the next write; an empty one is no cache
        (that code writes one back when it never saw the cache beside the record)."""
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ValueError("a session record is a JSON object")
        if not record.get("token_cache"):
            record["token_cache"] = TOKEN_CACHE_NOT_READ if tokens is None else tokens
        if tokens is None:
            return record  # a page view: whatever the record holds stays sealed
        cache = record["token_cache"]
        if self.sealer is not None and isinstance(cache, str) and cache.startswith(SEALED_PREFIX):
            opened = self.sealer.open(cache, context=self.key(session_id).encode("utf-8"))
            if opened is None:  # a retired key, or tampered: tokens are had again by signing in
                logger.warning("a token cache could not be opened with TOKEN_CACHE_KEY: dropped")
            record["token_cache"] = opened or ""
        return record
