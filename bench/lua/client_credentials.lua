-- POST /oauth/token grant_type=client_credentials, Basic auth. Args: <basic credentials>
local bench = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
scenario = { status = 200, body = '"access_token"' }
function scenario.build(args)
  return bench.constant(bench.post("/oauth/token",
    bench.form_headers({ Authorization = "Basic " .. args[1] }),
    "grant_type=client_credentials&scope=market%3Aread"))
end
