-- POST /login (form with CSRF) -> 303 and a session cookie. The (cookie, csrf_token) pairs
-- were fetched beforehand with GET /login; a pair stays valid, so threads cycle through theirs.
-- Args: supply=<pairs file>,<threads> <username> <password>   (file lines: cookie<TAB>csrf)
local bench = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
scenario = { status = 303, header = "Set-Cookie" }
function scenario.build(args, supply)
  local requests = {}
  for line in supply do
    local cookie, csrf = line:match("^([^\t]+)\t(.+)$")
    table.insert(requests, bench.post("/login",
      bench.form_headers({ Cookie = cookie }),
      "csrf_token=" .. csrf .. "&login=" .. args[1] .. "&password=" .. args[2]))
  end
  local i = 0
  return function()
    i = i % #requests + 1
    return requests[i]
  end
end
