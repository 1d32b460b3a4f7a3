-- wrk script: GET every path of the file named after "--" in turn (threads start at different
-- offsets), to warm a cache before a random-access measurement.
local paths = {}
local i = 0
local counter = 0

setup = function(thread)
  thread:set("offset", counter)
  counter = counter + 1
end

init = function(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  i = (offset or 0) * math.floor(#paths / 2)
end

request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
