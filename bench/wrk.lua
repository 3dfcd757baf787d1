-- wrk script for bench/load.sh. Arguments (after --): scenario [tag]
--   allowed   users drawn at random from 100,000
--   limited   one user, always the same
--   distinct  a new user every request (tag keeps runs apart)
-- Every status is counted (a response() callback), so the run can be
-- declared invalid if anything but 200 and 429 came back.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  scenario = args[1] or "allowed"
  tag = args[2] or "x"
  statuses = {}
  counter = 0
  if scenario == "allowed" then
    reqs = {}
    for i = 1, 100000 do
      reqs[i] = wrk.format("GET", "/ping?user=u" .. i)
    end
  elseif scenario == "limited" then
    req = wrk.format("GET", "/ping?user=abuser")
  end
end

function request()
  if scenario == "allowed" then
    return reqs[math.random(100000)]
  elseif scenario == "limited" then
    return req
  end
  counter = counter + 1
  return wrk.format("GET", "/ping?user=" .. tag .. "-" .. id .. "-" .. counter)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local s200, s429, other = 0, 0, 0
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do
      if code == 200 then s200 = s200 + n
      elseif code == 429 then s429 = s429 + n
      else other = other + n end
    end
  end
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d s200=%d s429=%d other=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    s200, s429, other, e.connect + e.read + e.write + e.timeout))
end
