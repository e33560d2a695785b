-- wrk script for bench/load/run-load.sh: chooses each request's path and classifies responses.
--   wrk ... -s mix.lua URL -- PANIC_RATE ABORT_RATE [OK_PATH]
-- Each request carries an X-Request-Id whose first letter says which path it went to
-- (o: the non-failing path, p: /panic, a: /abort); the server echoes it, so responses can be
-- told apart even though a thread's connections interleave.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  panic_rate = tonumber(args[1] or "0")
  abort_rate = tonumber(args[2] or "0")
  ok_path = args[3] or "/"
  sent = 0
  ok_2xx = 0
  ok_other = 0
  failing_expected = 0
  failing_other = 0
  unknown = 0
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  sent = sent + 1
  local r = math.random()
  local tag, path
  if r < abort_rate then
    tag, path = "a", "/abort"
  elseif r < abort_rate + panic_rate then
    tag, path = "p", "/panic"
  else
    tag, path = "o", ok_path
  end
  return wrk.format("GET", path, {["X-Request-Id"] = tag .. sent})
end

function response(status, headers, body)
  local id = headers["X-Request-Id"] or headers["x-request-id"] or ""
  local tag = id:sub(1, 1)
  if tag == "o" then
    if status >= 200 and status < 300 then ok_2xx = ok_2xx + 1 else ok_other = ok_other + 1 end
  elseif tag == "p" or tag == "a" then
    if status == 500 then failing_expected = failing_expected + 1 else failing_other = failing_other + 1 end
  else
    unknown = unknown + 1
  end
end

function done(summary, latency, requests)
  local t = {ok_2xx = 0, ok_other = 0, failing_expected = 0, failing_other = 0, unknown = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d ok_2xx=%d ok_non2xx=%d " ..
    "failing_500=%d failing_other=%d unknown=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, t.ok_2xx, t.ok_other, t.failing_expected,
    t.failing_other, t.unknown, e.connect + e.read + e.write + e.timeout))
end
