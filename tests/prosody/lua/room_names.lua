-- Reads room JIDs, one per line, and prints the plugin's meeting name for each (tests/prosody/
-- test_lua.py compares them with the service's canonical names).
local util = dofile(arg[1]);
for line in io.lines() do
	io.write(tostring(util.room_name(line)), "\n");
end
