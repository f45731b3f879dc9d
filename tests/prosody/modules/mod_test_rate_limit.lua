-- mod_test_rate_limit: a test module that limits joins per room the way Jitsi's
-- mod_muc_rate_limit does (on by default in Debian's Jitsi config): joins over the rate are held
-- in a per-room queue (the pre-join event is stopped) and handed back, from a timer, to
-- room:handle_normal_presence with a flag on the stanza that lets them pass this module the
-- second time. A timer runs outside any async runner, which is what mod_joingate must cope with.

-- luacheck: globals module

local new_throttle = require "util.throttle".create;
local timer = require "util.timer";

local joins_per_second = module:get_option_number("test_rate_joins", 3);
-- Seconds between two hand-backs (Jitsi: 1); longer makes a long queue with few participants.
local every = module:get_option_number("test_rate_every", 1);

local function drain(room)
	local queue = room.test_join_queue;
	for _ = 1, joins_per_second do
		local event = table.remove(queue, 1);
		if not event then break; end
		if event.origin.conn or event.origin.bosh_version or event.origin.websocket_request then
			event.stanza.test_rate_replayed = true;
			room:handle_normal_presence(event.origin, event.stanza);
		end
	end
	if #queue > 0 then return every; end
	room.test_join_timer = nil;
end

module:hook("muc-occupant-pre-join", function (event)
	local room, stanza = event.room, event.stanza;
	if stanza.test_rate_replayed then
		stanza.test_rate_replayed = nil;
		return;
	end
	room.test_join_throttle = room.test_join_throttle or new_throttle(joins_per_second, 1);
	room.test_join_queue = room.test_join_queue or {};
	if room.test_join_timer or not room.test_join_throttle:poll(1) then
		local queue = room.test_join_queue;
		queue[#queue + 1] = event;
		if not room.test_join_timer then
			room.test_join_timer = true;
			timer.add_task(every, function ()
				if room._data.destroyed then return; end
				return drain(room);
			end);
		end
		return true; -- held: handed back from the timer
	end
end, 9);
