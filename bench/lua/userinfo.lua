-- GET /oauth/userinfo with a Bearer access token holding openid. Args: <access token>
local bench = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
scenario = { status = 200, body = '"sub"' }
function scenario.build(args)
  return bench.constant(wrk.format("GET", "/oauth/userinfo",
    { Authorization = "Bearer " .. args[1] }))
end
