-- Shared wrk plumbing for Tessera's benchmark scenarios (loaded with dofile by each scenario).
--
-- A scenario script loads this file and sets the global `scenario` table:
--   scenario.status   the one HTTP status counted as a success (200, or 303 for the login)
--   scenario.body     a Lua pattern the body must contain (nil: status only)
--   scenario.header   a response header that must be present (nil: none)
--   scenario.build(args, supply)  -> a function returning the next raw HTTP request
-- Arguments after `--` on the wrk command line reach build(); when the first one is
-- "supply=<file>,<threads>", each thread takes every <threads>-th line of <file> (offset by its
-- own index), so no single-use token is sent by two threads or twice by one.
-- done() prints one line, "BENCH_RESULT {json}", that bench/wrk_results.py parses.

local M = {}

local threads = {}
local next_index = 0

function setup(thread)
  thread:set("thread_index", next_index)
  next_index = next_index + 1
  table.insert(threads, thread)
end

ok = 0
bad_status = 0
bad_body = 0
exhausted = 0
statuses = {}

local function read_supply(spec)
  local file, nthreads = spec:match("^supply=(.+),(%d+)$")
  if not file then
    return nil
  end
  nthreads = tonumber(nthreads)
  local mine = {}
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == thread_index then
      table.insert(mine, line)
    end
    i = i + 1
  end
  return mine
end

-- A supply that hands out each line once; nil when used up.
function M.supply_iterator(lines)
  local position = 0
  return function()
    position = position + 1
    return lines[position]
  end
end

function init(args)
  local supply = nil
  local rest = {}
  for i, a in ipairs(args) do
    if i == 1 and a:sub(1, 7) == "supply=" then
      supply = M.supply_iterator(read_supply(a))
    else
      table.insert(rest, a)
    end
  end
  M.next_request = scenario.build(rest, supply)
end

-- Sent once a single-use supply is used up: a 404 counted as an error, never a reused token.
local EXHAUSTED = "GET /bench-supply-exhausted HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

function request()
  local req = M.next_request()
  if req == nil then
    exhausted = exhausted + 1
    return EXHAUSTED
  end
  return req
end

-- Header names are case-insensitive (HTTP/1.1); servers differ in how they spell them.
local function has_header(headers, name)
  local wanted = name:lower()
  for key, _ in pairs(headers) do
    if key:lower() == wanted then return true end
  end
  return false
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status ~= scenario.status then
    bad_status = bad_status + 1
  elseif scenario.body and not (body and body:find(scenario.body)) then
    bad_body = bad_body + 1
  elseif scenario.header and not has_header(headers, scenario.header) then
    bad_body = bad_body + 1
  else
    ok = ok + 1
  end
end

local function json_counts(t)
  local parts = {}
  for k, v in pairs(t) do
    table.insert(parts, string.format('"%s":%d', k, v))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local totals = { ok = 0, bad_status = 0, bad_body = 0, exhausted = 0 }
  local all_statuses = {}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
    for k, v in pairs(thread:get("statuses") or {}) do
      all_statuses[k] = (all_statuses[k] or 0) + v
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
      .. '"max_us":%d,"ok":%d,"bad_status":%d,"bad_body":%d,"exhausted":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"timeouts":%d,"statuses":%s}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, totals.ok, totals.bad_status, totals.bad_body,
    totals.exhausted, e.connect, e.read, e.write, e.timeout, json_counts(all_statuses)))
end

-- Helpers for building requests.
function M.post(path, headers, body)
  return wrk.format("POST", path, headers, body)
end

function M.form_headers(extra)
  local h = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  for k, v in pairs(extra or {}) do
    h[k] = v
  end
  return h
end

function M.constant(req)
  return function()
    return req
  end
end

return M
