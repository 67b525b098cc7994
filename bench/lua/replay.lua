-- Cycle through pre-built signed requests, one per line of the file named by the first
-- argument: "METHOD<TAB>PATH<TAB>Header: value<US>Header: value<TAB>BODY".
-- Each wrk thread takes every n-th line, so threads never send the same request.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local built = {}
local next_index = 1

function init(args)
   local nthreads = tonumber(args[2])
   local index = 0
   for line in io.lines(args[1]) do
      if index % nthreads == id then
         local method, path, head, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
         local headers = {}
         for name, value in head:gmatch("([^:\31]+): ([^\31]*)") do
            headers[name] = value
         end
         table.insert(built, wrk.format(method, path, headers, body))
      end
      index = index + 1
   end
end

function request()
   local req = built[next_index]
   next_index = next_index % #built + 1
   return req
end
