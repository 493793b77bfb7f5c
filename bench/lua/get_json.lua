-- GET a JSON document (JWKS, discovery, the bare-Flask ceiling). Args: <path> <body pattern>
local bench = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
scenario = { status = 200 }
function scenario.build(args)
  scenario.body = args[2]
  return bench.constant(wrk.format("GET", args[1]))
end
