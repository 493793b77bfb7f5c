-- POST /oauth/introspect by a resource server (revocations:read) for a user's access token.
-- Args: <basic credentials> <access token>
local bench = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
scenario = { status = 200, body = '"active":%s*true' }
function scenario.build(args)
  return bench.constant(bench.post("/oauth/introspect",
    bench.form_headers({ Authorization = "Basic " .. args[1] }),
    "token=" .. args[2] .. "&token_type_hint=access_token"))
end
