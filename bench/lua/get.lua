-- GET /api?action=ACTION for a random user among the first USERS (userId uN, deviceId dN), e.g. getVars or
-- exportUser. args: action, appId, clientKey, users, extra query string (may be empty).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup, done = common.setup, common.done

local prefix, users

function init(args)
  prefix = "/api?action=" .. args[1] .. "&appId=" .. args[2] .. "&clientKey=" .. args[3] ..
    "&client=js&sdkVersion=1.9.0" .. ((args[5] ~= nil and args[5] ~= "") and ("&" .. args[5]) or "")
  users = tonumber(args[4])
  math.randomseed(os.time() * 100 + id)
end

function request()
  local u = math.random(users)
  return wrk.format("GET", prefix .. "&userId=u" .. u .. "&deviceId=d" .. u)
end
