-- POST a form body (env BODY) with optional HTTP Basic client authentication (env BASIC).
wrk.method = "POST"
wrk.body = os.getenv("BODY") or ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local basic = os.getenv("BASIC")
if basic and #basic > 0 then
  wrk.headers["Authorization"] = "Basic " .. basic
end
done = dofile(os.getenv("LUA_DIR") .. "/summary.lua")
