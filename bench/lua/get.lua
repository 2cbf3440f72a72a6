-- GET a document (JWKS, discovery).
wrk.method = "GET"
done = dofile(os.getenv("LUA_DIR") .. "/summary.lua")
