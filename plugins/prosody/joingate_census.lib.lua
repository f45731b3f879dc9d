-- joingate_census: how many participants each meeting has per country, reported to the service
-- (never who, never an address), so that an operator can preview a restriction's effect.
-- Breakout rooms count under their main meeting; people waiting in a lobby are not present.
-- The conference component reports at every interval, empty or not (the service shows when it
-- last heard from the plugin); a breakout or lobby component reports only while it counts
-- someone, and once more when it no longer does, so a lobby component never reports at all.

-- luacheck: globals module

local async = require "util.async";

local util = module:require "joingate_util";

return function (ctx)
	local opts, http, meetings, gate = ctx.options, ctx.http, ctx.meetings, ctx.gate;
	local muc = ctx.muc;

	-- Participants per meeting and country, and (a subset) those whose last verdict was
	-- disputed; `disputed` is nil when there are none, so the report leaves it out.
	local function counts()
		local rooms, disputed = {}, nil;
		for room in muc.live_rooms() do
			local meeting, kind = meetings.meeting_of(room);
			if meeting and kind ~= "lobby" and not meetings.is_exempt_room(meeting)
				and not util.has_bidi_control(meeting) then
				local per_country = rooms[meeting];
				for _, occupant in room:each_occupant() do
					local real_jid = occupant.jid;
					if real_jid and not (meetings.is_exempt_jid(real_jid) or meetings.is_main_participant(real_jid)) then
						local country, contested = gate.placed_country(room.jid, real_jid);
						country = country or "";
						per_country = per_country or {};
						per_country[country] = (per_country[country] or 0) + 1;
						if contested then
							disputed = disputed or {};
							local in_room = disputed[meeting] or {};
							in_room[country] = (in_room[country] or 0) + 1;
							disputed[meeting] = in_room;
						end
					end
				end
				rooms[meeting] = per_country;
			end
		end
		return rooms, disputed;
	end

	local function start()
		local busy = false;
		local reports_empty = not opts.main_muc;
		local last_taken_empty = true;
		local runner = async.runner(function ()
			busy = true;
			local rooms, disputed = counts();
			local empty = next(rooms) == nil;
			if reports_empty or not (empty and last_taken_empty) then
				local answer, err = http.call("POST", "/v1/census",
					{ source = opts.census_source; rooms = rooms; disputed = disputed }, 5 + opts.timeout);
				if answer then
					last_taken_empty = empty;
				else
					http.complain("census", err, "joingate did not take the census report: %s", err);
				end
			end
			busy = false;
		end, {
			error = function (_, err)
				busy = false;
				module:log("error", "joingate census report failed: %s", err);
			end;
		});
		module:add_timer(math.min(opts.census_interval, 5), function ()
			if not busy then -- a slow service gets one report at a time, not a queue
				runner:run(true);
			end
			return opts.census_interval;
		end);
	end

	return { start = start };
end
