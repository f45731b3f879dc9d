-- Reads pairs of lines (a room name and an address, each hex-encoded UTF-8) and prints, for
-- each pair, the batch body the plugin's sweep writes for one check of them (tests/prosody/
-- test_lua.py reads it with Python's JSON decoder).
local util = dofile(arg[1]);
local function unhex(line)
	return (line:gsub("%x%x", function (byte) return string.char(tonumber(byte, 16)); end));
end
local lines = io.lines();
for room in lines do
	local ip = unhex(lines());
	io.write(util.batch_body({ util.check_json(util.json_string(unhex(room)), ip) }, 1, 1, "sweep"), "\n");
end
