-- wrk script: replays pre-generated requests (bench/gen_webhooks.py) one line at a time.
--   wrk -t T -c C -d D -s bench/replay.lua URL -- KIND FILE AT_END RATE T C LIMIT
-- KIND    shopify | collect (which headers go with each line)
-- FILE    the generator's output; thread i of T sends lines i, i+T, i+2T, ...
-- AT_END  wrap (start the file again) | stop (end the thread: every body is sent once,
--         because a repeated order would be a duplicate, a cheaper path than an insert)
-- RATE    total requests/s to aim at, 0 for as fast as the server answers. wrk 4.1 has no
--         constant-rate mode; each connection waits an exponential think time of mean
--         C/RATE between its requests, a closed loop whose achieved rate is reported.
-- LIMIT   requests per thread, 0 for the whole file.
-- Lines are read lazily so that start-up costs the same for every thread; done() prints
-- one line "BENCH {json}" with the totals and latency percentiles in microseconds.

local counter = 0
local threads = {}

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local kind, path, at_end, mean_ms, nthreads, limit
local f, sent, exhausted = nil, 0, false

local UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 " ..
           "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

function init(args)
   kind = args[1]
   path = args[2]
   at_end = args[3] or "wrap"
   local rate = tonumber(args[4]) or 0
   nthreads = tonumber(args[5]) or 1
   local conns = tonumber(args[6]) or 1
   limit = tonumber(args[7]) or 0
   mean_ms = rate > 0 and (conns / rate * 1000.0) or 0
   f = assert(io.open(path, "rb"))
   for _ = 1, id do f:read("*l") end
   math.randomseed(1000 + id)
   -- wrk asks for delay() after init and, when it exists, puts a timer before every
   -- request; so it is defined only for a rate-limited run.
   if mean_ms > 0 then
      delay = function()
         return math.floor(-mean_ms * math.log(1.0 - math.random()) + 0.5)
      end
   end
end

-- The next line of this thread, or nil when the file (or LIMIT) is used up.
local function next_line()
   if limit > 0 and sent >= limit then return nil end
   local line = f:read("*l")
   if not line and at_end == "wrap" then
      f:seek("set", 0)
      for _ = 1, id do f:read("*l") end
      line = f:read("*l")
   end
   if not line then return nil end
   for _ = 2, nthreads do f:read("*l") end
   sent = sent + 1
   return line
end

local function shopify_request(line)
   local a = line:find("\t", 1, true)
   local b = line:find("\t", a + 1, true)
   local id = line:sub(a + 1, b - 1)
   return wrk.format("POST", nil, {
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "Shopify-Captain-Hook",
      ["X-Shopify-Topic"] = "orders/paid",
      ["X-Shopify-Hmac-Sha256"] = line:sub(1, a - 1),
      ["X-Shopify-Shop-Domain"] = "bench-shop.myshopify.com",
      ["X-Shopify-API-Version"] = "2025-07",
      ["X-Shopify-Webhook-Id"] = id,
      ["X-Shopify-Event-Id"] = "ev-" .. id,
      ["X-Shopify-Triggered-At"] = "2025-01-01T00:00:00Z",
   }, line:sub(b + 1))
end

local function collect_request(line)
   local a = line:find("\t", 1, true)
   return wrk.format("POST", nil, {
      ["Content-Type"] = "text/plain;charset=UTF-8",
      ["Origin"] = "https://shop.example",
      ["X-Forwarded-For"] = line:sub(1, a - 1),
      ["User-Agent"] = UA,
      ["Accept-Language"] = "en-US,en;q=0.9",
   }, line:sub(a + 1))
end

-- wrk calls request() once in thread 0 before the run, only to inspect the result; the
-- line it gets is handed out again by the first real call, so no body goes unsent.
local carry = nil
local verified = false

local function build(line)
   if kind == "collect" then return collect_request(line) end
   return shopify_request(line)
end

function request()
   if id == 0 and not verified then
      verified = true
      carry = next_line()
      if carry then return build(carry) end
   elseif carry then
      local line = carry
      carry = nil
      return build(line)
   end
   local line = not exhausted and next_line()
   if not line then
      -- Connections still open may ask once more before the thread stops: a health
      -- check stands in, so no body is ever sent twice.
      if not exhausted then
         exhausted = true
         wrk.thread:stop()
         -- wrk's main thread would sleep out the whole -d duration: the last thread to
         -- finish its share sends SIGINT, which ends the run and prints the summary.
         -- Not through os.execute: system() ignores SIGINT in the caller meanwhile.
         local p = io.popen(string.format(
            'f="%s.$PPID.done"; echo >> "$f"; ' ..
            'if [ "$(wc -l < "$f")" -ge %d ]; then rm -f "$f"; kill -INT $PPID; fi',
            path, nthreads))
         if p then p:close() end
      end
      return wrk.format("GET", "/healthz")
   end
   return build(line)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,' ..
      '"write":%d,"status":%d,"timeout":%d},"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,' ..
      '"p99":%d,"p999":%d,"max":%d}}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
      e.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max))
end
