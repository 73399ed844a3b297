-- wrk script of tools/bench-load: a mix of whole-file GETs, single ranges and 50-range
-- requests (electron-updater's kind) for one file, every response checked as it arrives:
-- status, length, Content-Range against the file's size, and for multipart bodies that there
-- are 50 parts each exactly as long as its Content-Range says. Byte contents are checked by
-- tools/load/clients.py verify, which runs beside wrk.
--
-- Environment: LOAD_PATH (target path), LOAD_SIZE (file size), LOAD_WHOLE / LOAD_SINGLE
-- (shares of whole-file and single-range requests, the rest are 50-range requests).
local path = os.getenv("LOAD_PATH") or "/app.bin"
local size = tonumber(os.getenv("LOAD_SIZE"))
local whole_share = tonumber(os.getenv("LOAD_WHOLE") or "0.1")
local single_share = tonumber(os.getenv("LOAD_SINGLE") or "0.45")
local parts = 50

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  checked, bad, whole, single, multi = 0, 0, 0, 0, 0
  first_bad = ""
end

local function range_text()
  -- 50 ranges, one in each 50th of the file, 1 byte to 16 KiB long, in ascending order.
  local slot = math.floor(size / parts)
  local out = {}
  for i = 0, parts - 1 do
    local length = math.random(1, math.min(16384, slot))
    local start = i * slot + math.random(0, slot - length)
    out[#out + 1] = start .. "-" .. (start + length - 1)
  end
  return table.concat(out, ",")
end

function request()
  local r = math.random()
  if r < whole_share then
    return wrk.format("GET", path)
  elseif r < whole_share + single_share then
    local length = math.random(1, 262144)
    local start = math.random(0, size - length)
    return wrk.format("GET", path, { Range = "bytes=" .. start .. "-" .. (start + length - 1) })
  else
    return wrk.format("GET", path, { Range = "bytes=" .. range_text() })
  end
end

local function fail(why)
  bad = bad + 1
  if first_bad == "" then first_bad = why end
end

local function lower(headers)
  local out = {}
  for k, v in pairs(headers) do out[string.lower(k)] = v end
  return out
end

local function check(status, headers, body)
  checked = checked + 1
  local h = lower(headers)
  if status == 200 then
    whole = whole + 1
    if #body ~= size then fail("200 with " .. #body .. " bytes") end
    return
  end
  if status ~= 206 then return fail("status " .. status) end
  local cr = h["content-range"]
  if cr then
    single = single + 1
    local a, b, total = cr:match("^bytes (%d+)%-(%d+)/(%d+)$")
    if not a or tonumber(total) ~= size or #body ~= tonumber(b) - tonumber(a) + 1 then
      fail("single range " .. tostring(cr) .. " with " .. #body .. " bytes")
    end
    return
  end
  multi = multi + 1
  local boundary = (h["content-type"] or ""):match("boundary=([^;]+)")
  if not boundary then return fail("206 without Content-Range or boundary") end
  local count, position = 0, 1
  while true do
    local s, e, a, b, total = body:find("Content%-Range: bytes (%d+)%-(%d+)/(%d+)\r\n", position)
    if not s then break end
    local _, head_end = body:find("\r\n\r\n", s, true)
    if not head_end or tonumber(total) ~= size then return fail("malformed part header") end
    local data_end = head_end + tonumber(b) - tonumber(a) + 1
    if body:sub(data_end + 1, data_end + 4 + #boundary) ~= "\r\n--" .. boundary then
      return fail("part " .. (count + 1) .. " has the wrong length")
    end
    count = count + 1
    position = data_end + 1
  end
  if count ~= parts then fail(count .. " parts instead of " .. parts) end
  if body:sub(-(#boundary + 8)) ~= "\r\n--" .. boundary .. "--\r\n" then fail("multipart body without its closing boundary") end
end

-- LOAD_CHECK=0 leaves the checks out: wrk then neither keeps nor parses bodies (it only
-- counts them), so its own CPU does not add to the latencies it measures.
if os.getenv("LOAD_CHECK") ~= "0" then response = check end

function done(summary, latency, requests)
  local t = { checked = 0, bad = 0, whole = 0, single = 0, multi = 0 }
  local first = ""
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
    if first == "" then first = thread:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"checked": %d, "bad_bodies": %d, "first_bad": "%s", "whole": %d, "single": %d, "multi": %d, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.0f}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    t.checked, t.bad, first:gsub('"', "'"), t.whole, t.single, t.multi,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
