-- GET the path given as the first argument with a distinct event_id on every request.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local prefix
local sent = 0

function init(args)
   prefix = args[1] .. "&event_id=" .. args[2] .. "-" .. id .. "-"
end

function request()
   sent = sent + 1
   return wrk.format("GET", prefix .. sent)
end
