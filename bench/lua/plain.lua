-- The same request every time (wrk's own -s-less behaviour), with the JSON summary.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
