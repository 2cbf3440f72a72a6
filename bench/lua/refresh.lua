-- refresh_token grant with rotation: every response's new refresh token is the one a later
-- request presents, so no token is used twice. Env TOKENS: a file of refresh tokens, one per
-- line; each wrk thread takes every n-th line (threads must not share tokens). BASIC as post.lua.
local threads, counter = {}, 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local pool, basic = {}, os.getenv("BASIC")
function init(args)
  local n, i = tonumber(os.getenv("THREADS") or "2"), 0
  for line in io.lines(os.getenv("TOKENS")) do
    if i % n == id then table.insert(pool, line) end
    i = i + 1
  end
end

local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
if basic and #basic > 0 then headers["Authorization"] = "Basic " .. basic end

function request()
  local token = table.remove(pool, 1) or "exhausted"
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, hdrs, body)
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then table.insert(pool, token) end
end

done = dofile(os.getenv("LUA_DIR") .. "/summary.lua")
