-- POST /oauth/token grant_type=authorization_code with PKCE, each code used once.
-- Args: supply=<codes file>,<threads> <basic credentials> <urlencoded redirect_uri> <verifier>
local bench = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
scenario = { status = 200, body = '"id_token"' }
function scenario.build(args, supply)
  local headers = bench.form_headers({ Authorization = "Basic " .. args[1] })
  local tail = "&redirect_uri=" .. args[2] .. "&code_verifier=" .. args[3]
  return function()
    local code = supply()
    if code == nil then
      return nil
    end
    return bench.post("/oauth/token", headers,
      "grant_type=authorization_code&code=" .. code .. tail)
  end
end
