-- POST /oauth/token grant_type=refresh_token, each request with its own never-used token.
-- Args: supply=<tokens file>,<threads> <basic credentials>
local bench = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
scenario = { status = 200, body = '"refresh_token"' }
function scenario.build(args, supply)
  local headers = bench.form_headers({ Authorization = "Basic " .. args[1] })
  return function()
    local token = supply()
    if token == nil then
      return nil
    end
    return bench.post("/oauth/token", headers, "grant_type=refresh_token&refresh_token=" .. token)
  end
end
