-- wrk script: GET a random path from the file named as the first argument after "--".
local paths = {}

init = function(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  -- Different threads draw different sequences.
  math.randomseed(os.time() + math.floor(os.clock() * 1e6) + #tostring({}))
end

request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
