-- joingate_gc: holds Lua's garbage collector while a large sweep removes people, within bounds.
--
-- Prosody runs the incremental collector with threshold 105 (util/startup.lua): a new cycle,
-- a walk of the whole heap, each time the heap grows 5 %. With 10,000 sessions (~216 MB) a
-- sweep that removes 1,000 covered people allocates ~50 MB, most of it Prosody's own kicks
-- (each sends a presence to every occupant of the meeting): some four walks of ~0.45 s of CPU
-- each while the covered are still in their meetings. Held for the sweep, that garbage is
-- collected once, after the last removal.
--
-- Bounds: held never longer than MAX_SECONDS (a plain util.timer, which fires even if the
-- module is unloaded meanwhile, as soon as Prosody's loop is free), never past MAX_GROWTH_KB
-- of heap growth (checked after each answer), never taken when the collector is not running
-- (someone else holds it) or this Lua cannot tell, and not taken again within REST_SECONDS of
-- the last release: sweeps back to back (restrictions toggled every second over a large
-- server) would otherwise hold it nearly all the time, each hold's bound counted afresh, and
-- the garbage of all of them would pile up.

local timer = require "util.timer";
local time_now = require "util.time".now;

local MAX_SECONDS = 5;
local MAX_GROWTH_KB = 128 * 1024;
local REST_SECONDS = 10; -- the collector runs at least this long between two holds

local released_at = -math.huge; -- this module instance's last release

-- Stops the collector; returns a handle with release() (idempotent) and check() (releases
-- once the heap grew past the bound), or nil when the collector was left alone.
local function hold()
	if time_now() < released_at + REST_SECONDS then return nil; end
	local ok, running = pcall(collectgarbage, "isrunning");
	if not (ok and running) then return nil; end
	collectgarbage("stop");
	local start_kb = collectgarbage("count");
	local held = true;
	local handle = {};
	function handle.release()
		if not held then return; end
		held = false;
		released_at = time_now();
		collectgarbage("restart");
	end
	function handle.check()
		if held and collectgarbage("count") - start_kb > MAX_GROWTH_KB then handle.release(); end
	end
	timer.add_task(MAX_SECONDS, function () handle.release(); end);
	return handle;
end

return { hold = hold; MAX_SECONDS = MAX_SECONDS; MAX_GROWTH_KB = MAX_GROWTH_KB; REST_SECONDS = REST_SECONDS };
