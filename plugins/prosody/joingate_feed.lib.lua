-- joingate_feed: the enforcement feed and the mid-meeting sweep.
--
-- A long-poll on GET /v1/enforcement learns which meetings' restrictions changed; the present
-- participants of those meetings (main rooms, breakout rooms and lobbies alike, each counted as
-- its meeting) are checked in batches and the refused ones removed. Nobody else is touched:
-- not the exempt, and not the main participants mirrored to a visitor node.

-- luacheck: globals module, read globals prosody

local async = require "util.async";
local formencode = require "util.http".formencode;

local util = module:require "joingate_util";
local gc = module:require "joingate_gc";

local function count(set)
	local n = 0;
	for _ in pairs(set) do n = n + 1; end
	return n;
end

local function same_set(a, b)
	for k in pairs(a) do if not b[k] then return false; end end
	for k in pairs(b) do if not a[k] then return false; end end
	return true;
end

return function (ctx)
	local opts, state, http, meetings, measures, gate = ctx.options, ctx.state, ctx.http, ctx.meetings,
		ctx.measures, ctx.gate;
	local muc = ctx.muc;
	local stopped = false;

	local function sleep(seconds)
		local wait, done = async.waiter();
		module:add_timer(seconds, function () done(); end);
		wait();
	end

	local function save_restricted(set)
		local list = {};
		for name in pairs(set) do list[#list + 1] = name; end
		table.sort(list);
		local ok, err = ctx.store:set(nil, { restricted = list });
		if not ok then
			module:log("warn", "Could not save the list of restricted rooms: %s", err);
		end
	end

	-- mod_muc's list of the rooms it keeps in storage (its "persistent" store): persistent rooms,
	-- and rooms swapped out of its bounded room cache (muc_room_cache_size, 100 by default),
	-- occupants and all, until their next stanza. A sweep must reach those too; reading the list
	-- lets it bring back only the ones that may belong to a changed meeting.
	local stored_rooms = module:open_store("persistent");

	-- The rooms a sweep of `changed` looks at: those in memory, and the JIDs of stored rooms that
	-- may belong to a changed meeting. On the conference component a room's JID names its
	-- meeting; a breakout or lobby room's meeting is only known once the room is back.
	local function rooms_to_check(changed)
		local rooms, seen = {}, {};
		for room in muc.live_rooms() do
			rooms[#rooms + 1] = room;
			seen[room.jid] = true;
		end
		local stored = stored_rooms:get(nil);
		for jid in pairs(type(stored) == "table" and stored or {}) do
			if not seen[jid] and (opts.main_muc or util.covers(changed, util.room_name(jid))) then
				rooms[#rooms + 1] = jid;
			end
		end
		return rooms;
	end

	-- A room's occupants as mod_muc keeps them, to read only. room:each_occupant() hands out a
	-- copy of each (two tables): over 10,000 occupants megabytes of garbage, and with a heap that
	-- large every few megabytes cost the collector a walk of all of it. mod_muc keeps them in
	-- room._occupants on 0.12 and 13 alike (Jitsi's modules read it too).
	local function each_occupant(room)
		local occupants = room._occupants;
		if type(occupants) == "table" then return next, occupants, nil; end
		return room:each_occupant();
	end

	-- Occupants to check, as one list per field (a table per occupant would be 10,000 tables):
	-- the i-th occupant is room[i], meeting[i], nick[i], real_jid[i], and check[i] its check
	-- as JSON text (util.check_json) when it has an address of its own.
	local function new_targets()
		return { n = 0; room = {}; meeting = {}; nick = {}; real_jid = {}; check = {} };
	end

	local function add_target(targets, room, meeting, nick, real_jid, check)
		local i = targets.n + 1;
		targets.n = i;
		targets.room[i], targets.meeting[i], targets.nick[i] = room, meeting, nick;
		targets.real_jid[i], targets.check[i] = real_jid, check;
	end

	-- The occupants of the meetings in `changed` ("*" = every meeting) on this component, in
	-- the order they are checked, and those without an address of their own.
	local function occupants_of(changed)
		local located, unlocated = new_targets(), new_targets();
		local function add_occupants(room, meeting)
			local room_json = util.json_string(meeting);
			for nick, occupant in each_occupant(room) do
				for real_jid in occupant:each_session() do
					if not (meetings.is_exempt_jid(real_jid) or meetings.is_main_participant(real_jid)) then
						local ip = meetings.client_address(prosody.full_sessions[real_jid]);
						if ip then
							add_target(located, room, meeting, nick, real_jid, util.check_json(room_json, ip));
						else
							add_target(unlocated, room, meeting, nick, real_jid, false);
						end
					end
				end
			end
		end
		for _, room in ipairs(rooms_to_check(changed)) do
			if type(room) == "string" then room = muc.get_room_from_jid(room); end
			local meeting = room and meetings.meeting_of(room);
			if meeting and util.covers(changed, meeting) and not meetings.is_exempt_room(meeting) then
				add_occupants(room, meeting);
			end
		end
		return located, unlocated;
	end

	-- Batch calls of one sweep in flight at once: while Prosody removes the refused of one
	-- answer, the service decides the next batch. Two keep both busy; more would only queue at
	-- the service ahead of the joins it must answer within the plugin's time limit.
	local SWEEP_IN_FLIGHT = 2;

	-- Checks and removes. Runs inside the enforcement runner. True when every check got an answer.
	-- The refused of each batch are removed as soon as its answer arrives; after a batch without
	-- an answer no further batch is sent, and the sweep is repeated (the removed are gone by then).
	-- Batch bodies are written from the occupants' check texts, and answers read in place: with
	-- a large heap, every allocation here costs collector work too.
	local collector; -- the collector held for the sweep under way, or nil

	local function sweep(changed)
		local located, unlocated = occupants_of(changed);
		measures.sweeps();
		-- The collector waits until the sweep is done (joingate_gc).
		if opts.sweep_hold_gc and located.n > 0 then collector = gc.hold(); end

		local removed = {};
		local function remove_once(targets, i, decision)
			local room, nick = targets.room[i], targets.nick[i];
			local key = room.jid .. "/" .. nick;
			if not removed[key] then
				removed[key] = gate.remove(room, targets.meeting[i], nick, targets.real_jid[i], decision, "");
			end
		end

		local answered, in_flight, next_first = true, 0, 1;
		local wait, done = async.waiter();
		local send_more;
		local function on_answer(first, last, answer, err)
			local results;
			if answer then
				results, err = util.batch_results(answer, last - first + 1);
			end
			if not results then
				if answered then
					measures.service_errors();
					http.complain("sweep", err, "joingate did not answer a sweep of %d occupants: %s",
						last - first + 1, err);
				end
				answered = false;
			else
				for i = first, last do
					local result = results[i - first + 1];
					if result.decision == "allow" then
						gate.place_in(located.room[i].jid, located.real_jid[i], util.placement(result));
					else
						remove_once(located, i, util.parse_decision(result));
					end
				end
			end
			if collector then collector.check(); end
			in_flight = in_flight - 1;
			send_more();
			if in_flight == 0 then done(); end
		end
		function send_more()
			while answered and in_flight < SWEEP_IN_FLIGHT and next_first <= located.n do
				local first, last = next_first, math.min(next_first + gate.BATCH_SIZE - 1, located.n);
				next_first = last + 1;
				in_flight = in_flight + 1;
				http.request("POST", "/v1/authorize/batch", util.batch_body(located.check, first, last, "sweep"),
					5 + opts.timeout, function (answer, err) return on_answer(first, last, answer, err); end);
			end
		end
		if located.n > 0 then
			send_more();
			wait();
		end
		if collector then
			collector.release();
			collector = nil;
		end
		if not answered then return false; end

		if opts.unlocated_mode ~= "open" then
			for i = 1, unlocated.n do
				if not util.fallback_allows(opts.unlocated_mode, state.restricted, unlocated.meeting[i]) then
					remove_once(unlocated, i, nil);
				end
			end
		end
		return true;
	end

	local function loop()
		local epoch = 0;
		local failures = 0;
		local pending = nil; -- meetings whose sweep has not succeeded yet
		while not stopped do
			if pending then
				if sweep(pending) then
					pending = nil;
					failures = 0;
				elseif stopped then
					break; -- the sweep's call was cut by an unload
				else
					state.feed_connected = false; -- no remembered answers until the service answers again
					failures = failures + 1;
					sleep(util.backoff(failures));
				end
			else
				local query = formencode({ { name = "after"; value = ("%d"):format(epoch) };
					{ name = "wait"; value = ("%d"):format(math.floor(opts.poll_wait)) } });
				local answer, err = http.call("GET", "/v1/enforcement?" .. query, nil, opts.poll_wait + 10);
				local update;
				if answer then
					update, err = util.parse_enforcement(answer);
				end
				if stopped then break; end
				if not update then
					measures.service_errors();
					state.feed_connected = false;
					failures = failures + 1;
					http.complain("enforcement", err, "joingate enforcement feed unavailable (%s); retrying in %d s",
						err, util.backoff(failures));
					sleep(util.backoff(failures));
				else
					if not state.feed_connected then
						state.feed_connected = true;
						module:log("info", "joingate enforcement feed connected");
					end
					failures = 0;
					epoch = update.epoch;
					state.epoch = epoch;
					module:log("debug", "Enforcement update: %d changed, %d restricted",
						count(update.rooms), count(update.restricted));
					if not same_set(state.restricted, update.restricted) then
						state.restricted = update.restricted;
						save_restricted(state.restricted);
					end
					if next(update.rooms) ~= nil then
						state.generation = state.generation + 1;
						pending = update.rooms;
					end
					if next(state.unchecked) ~= nil then
						pending = pending or {};
						for meeting in pairs(state.unchecked) do pending[meeting] = true; end
						state.unchecked = {};
					end
				end
			end
		end
	end

	local function start()
		local runner;
		runner = async.runner(loop, {
			error = function (_, err)
				module:log("error", "joingate enforcement loop failed: %s", err);
				if not stopped then
					module:add_timer(5, function () runner:run(true); end);
				end
			end;
		});
		module:add_timer(0, function ()
			runner:run(true);
		end);
	end

	local function stop()
		stopped = true;
		if collector then collector.release(); end
	end

	return { start = start; stop = stop };
end
