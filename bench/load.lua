-- wrk script for the dbmesh benchmark (bench/load.py runs it).
--
-- Arguments (after `--`): IDS_FILE BODY_FILE IDS_PER_REQUEST SEED
--   IDS_FILE   one customer id per line
--   BODY_FILE  three lines: the body's prefix, the separator between ids, the suffix
-- Every request POSTs prefix .. ids joined by the separator .. suffix, with ids picked at random
-- (seeded: both targets of a round get the same sequence). Every response is checked: a status
-- other than 200, or a body with a GraphQL "errors" member, counts as an error. done() prints one
-- line, "WRK_RESULT {json}", with the counts and the latency percentiles (microseconds).

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

local ids = {}
local prefix, separator, suffix
local per_request = 1
checked = 0
bad_status = 0
graphql_errors = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      ids[#ids + 1] = line
    end
  end
  local body = assert(io.open(args[2], "r"))
  prefix = body:read("*l")
  separator = body:read("*l")
  suffix = body:read("*l")
  body:close()
  per_request = tonumber(args[3])
  math.randomseed(tonumber(args[4]))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
end

function request()
  local picked = {}
  for i = 1, per_request do
    picked[i] = ids[math.random(#ids)]
  end
  return wrk.format(nil, nil, nil, prefix .. table.concat(picked, separator) .. suffix)
end

function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif string.find(body, '"errors"', 1, true) then
    graphql_errors = graphql_errors + 1
  end
end

local function percentiles(latency)
  local out = {}
  -- every 0.1 % up to 99.9 %, then 99.95 and 99.99: enough to merge rounds and read p50/p99
  for i = 1, 999 do
    out[#out + 1] = string.format("[%.1f,%d]", i / 10, latency:percentile(i / 10))
  end
  out[#out + 1] = string.format("[99.95,%d]", latency:percentile(99.95))
  out[#out + 1] = string.format("[99.99,%d]", latency:percentile(99.99))
  return "[" .. table.concat(out, ",") .. "]"
end

function done(summary, latency, requests)
  local c, s, g = 0, 0, 0
  for _, thread in ipairs(threads) do
    c = c + thread:get("checked")
    s = s + thread:get("bad_status")
    g = g + thread:get("graphql_errors")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"checked":%d,"bad_status":%d,"graphql_errors":%d,'
      .. '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d},'
      .. '"percentiles":%s}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    c, s, g,
    latency.min, latency.mean, latency.max, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    percentiles(latency)))
end
