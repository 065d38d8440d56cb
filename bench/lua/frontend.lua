-- GET /api/frontend (Unleash's frontend API: one user's evaluated flags) for a random user among the first USERS,
-- with the context bench/others.py user_context gives user uN. args: frontend token, users.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup, done = common.setup, common.done

local users

function init(args)
  wrk.headers["Authorization"] = args[1]
  users = tonumber(args[2])
  math.randomseed(os.time() * 100 + id)
end

function request()
  local u = math.random(users)
  return wrk.format("GET", "/api/frontend?userId=u" .. u .. "&sessionId=s" .. u ..
    "&plan=" .. (u % 3 == 0 and "pro" or "free") .. "&age=" .. (18 + u % 50) ..
    "&signupSource=" .. (u % 2 == 1 and "web" or "ads") .. "&browserName=Chrome")
end
