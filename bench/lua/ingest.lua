-- POST /api?action=multi with 50 items, as the JavaScript SDK sends a queued batch (text/plain JSON body).
-- Each request picks a random user; every item gets a client time no other request uses, so nothing is a replay.
-- args: items file (one JSON prefix per line, ending in "deviceId":"), appId, clientKey, users, first time (ms),
--       number of wrk threads.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup, done = common.setup, common.done

local prefixes, app, key, users, t0, stride
local sent = 0
local headers = { ["Content-Type"] = "text/plain" }

function init(args)
  prefixes = {}
  for line in io.lines(args[1]) do prefixes[#prefixes + 1] = line end
  app, key, users = args[2], args[3], tonumber(args[4])
  t0, stride = tonumber(args[5]), tonumber(args[6])
  math.randomseed(os.time() * 100 + id)
end

local function stamp(ms)
  return string.format("%d.%03d", math.floor(ms / 1000), ms % 1000)
end

function request()
  sent = sent + 1
  local u = math.random(users)
  local tail = '","userId":"u' .. u .. '","time":"'
  local head = 'd' .. u
  local base = t0 + (sent * stride + id) * 64
  local parts = {}
  for i = 1, #prefixes do
    parts[i] = prefixes[i] .. head .. tail .. stamp(base + i) .. '"}'
  end
  local body = '{"data":[' .. table.concat(parts, ",") .. ']}'
  local path = "/api?appId=" .. app .. "&client=js&clientKey=" .. key ..
    "&sdkVersion=1.9.0&action=multi&time=" .. stamp(base + #prefixes)
  return wrk.format("POST", path, headers, body)
end
