-- joingate_gate: the door. Decides every join on muc-occupant-pre-join, removes participants,
-- and checks joins admitted early in batches.
--
-- A join is decided by the service's answer; the fail mode decides only when the service gives
-- none. Joins that arrive outside an async runner (Jitsi's mod_muc_rate_limit replays queued
-- joins from a timer) are stopped, decided in a runner of our own, and then replayed into the
-- component or refused.

-- luacheck: globals module

local async = require "util.async";
local timer = require "util.timer";
local st = require "util.stanza";
local jid_bare = require "util.jid".bare;
local time_now = require "util.time".now;
local new_cache = require "util.cache".new;

local util = module:require "joingate_util";

local VERIFY_DELAY = 0.05; -- joins admitted early are checked together, one batch per 50 ms
local BATCH_SIZE = 1000;    -- the service's limit per /v1/authorize/batch call
local NO_MEETING_TEXT = "This room does not belong to a meeting on this server.";

return function (ctx)
	local opts, state, http, meetings, measures = ctx.options, ctx.state, ctx.http, ctx.meetings, ctx.measures;
	local muc, sessions = ctx.muc, ctx.sessions;

	-- Recent "allow" answers by meeting and address, in memory only, so that a participant who
	-- reconnects or reloads the page does not pay a second round trip. Any change of
	-- restrictions (a new generation) voids them all; refusals are never remembered, so the
	-- service sees and counts every one.
	local allowed = new_cache(10000);

	local function authorize_once(meeting, ip)
		local done_timing = measures.authorize();
		local answer, err = http.call("POST", "/v1/authorize", { room = meeting; ip = ip }, opts.timeout);
		done_timing();
		if not answer then return nil, err; end
		return util.parse_decision(answer);
	end

	-- The answer for one join: a decision table, or nil, err when the service could not give one.
	local function authorize(meeting, ip)
		local key = meeting .. " " .. ip;
		if opts.cache_ttl > 0 and state.feed_connected then
			local hit = allowed:get(key);
			if hit and hit.generation == state.generation and hit.expires > time_now() then
				measures.cache_hits();
				module:log("debug", "Join to %s: remembered answer", meeting);
				return hit.decision;
			end
		end
		local generation = state.generation;
		local decision, err = authorize_once(meeting, ip);
		if decision and decision.allow and generation ~= state.generation then
			-- The answer predates a change of restrictions: ask again, so that no join slips in
			-- between a restriction and its sweep.
			generation = state.generation;
			decision, err = authorize_once(meeting, ip);
		end
		if decision and decision.allow and opts.cache_ttl > 0 then
			allowed:set(key, { decision = decision; generation = generation; expires = time_now() + opts.cache_ttl });
		end
		return decision, err;
	end

	-- The country the service placed each present participant in ("" = not placed), and
	-- whether that verdict was disputed, for the census. Keyed by room and real JID; bounded,
	-- and entries of people who left age out.
	local placed = new_cache(20000);
	local function place_in(room_jid, real_jid, country, disputed)
		local key = room_jid .. " " .. real_jid;
		local found = placed:get(key);
		if found and found[1] == country and found[2] == disputed then return; end -- a sweep's usual case
		placed:set(key, { country, disputed });
	end
	local function place(room_jid, real_jid, decision)
		return place_in(room_jid, real_jid, decision.country or "", decision.disputed);
	end
	local function placed_country(room_jid, real_jid)
		local found = placed:get(room_jid .. " " .. real_jid);
		if found then return found[1], found[2]; end
		return nil, false;
	end

	local function remove(room, meeting, nick, real_jid, decision, when)
		-- The room as Prosody holds it now: the object we were given may have been swapped out to
		-- storage meanwhile (its room cache is bounded), and a kick there would be lost.
		room = muc.get_room_from_jid(room.jid);
		if not room then return false; end
		-- Only someone who is still there in the same session: answers take a moment.
		local occupant = room:get_occupant_by_nick(nick);
		if not (occupant and occupant.sessions[real_jid]) then return false; end
		local ok, _, condition = room:set_role(true, nick, nil, opts.removal_reason);
		if not ok then
			module:log("warn", "Could not remove a participant from %s: %s", meeting, condition);
			return false;
		end
		measures.removals();
		module:log("info", "Removed a participant from %s%s (country %s, restriction %s)", meeting, when,
			decision and decision.country or "unknown", decision and tostring(decision.restriction) or "none");
		return true;
	end

	-- Joins admitted early are checked together: one batch call per 50 ms instead of one call
	-- per join keeps the HTTP work (Prosody has one thread) off the joins themselves.
	local verify_queue = {};

	local function verify_queued()
		local queue = verify_queue;
		verify_queue = {};
		for _, chunk in ipairs(util.chunks(queue, BATCH_SIZE)) do
			local checks = {};
			for i, item in ipairs(chunk) do
				checks[i] = { room = item.meeting; ip = item.ip };
			end
			http.request("POST", "/v1/authorize/batch", { checks = checks; purpose = "admitted" }, 5 + opts.timeout,
				function (answer, err)
					local results;
					if answer then results, err = util.parse_batch(answer, #chunk); end
					if not results then
						measures.service_errors();
						http.complain("verify", err, "joingate did not check %d joins admitted early: %s", #chunk, err);
						if opts.enforce then
							for _, item in ipairs(chunk) do state.unchecked[item.meeting] = true; end
						end
						return;
					end
					for i, decision in ipairs(results) do
						local item = chunk[i];
						if decision.allow then
							place(item.room.jid, item.real_jid, decision);
						else
							remove(item.room, item.meeting, item.nick, item.real_jid, decision, " right after joining");
						end
					end
				end);
		end
	end

	local function verify_after_join(room, meeting, real_jid, nick, ip)
		verify_queue[#verify_queue + 1] = {
			room = room; meeting = meeting; real_jid = real_jid; nick = nick; ip = ip;
		};
		if #verify_queue == 1 then
			module:add_timer(VERIFY_DELAY, verify_queued);
		end
	end

	local function refuse(origin, stanza, room_jid, text)
		origin.send(st.error_reply(stanza, "cancel", "not-allowed", text, room_jid));
		return true;
	end

	local function fallback(mode, meeting, why)
		if util.fallback_allows(mode, state.restricted, meeting) then
			measures.fallback_allowed();
			module:log("info", "Join to %s let through without an answer from joingate (%s mode: %s)",
				meeting, mode, why);
			return true;
		end
		measures.fallback_refused();
		module:log("info", "Join to %s refused without an answer from joingate (%s mode: %s)",
			meeting, mode, why);
		return false;
	end

	-- What the service's answer (or its absence) means for one join: "allow" | "refuse", and the
	-- text for a refusal. Records the side effects (counters, census country, unchecked).
	local function judge(room, meeting, real_jid, decision, err)
		if not decision then
			measures.service_errors();
			http.complain("authorize", err, "joingate did not answer a join check: %s", err);
			if not fallback(opts.fail_mode, meeting, err) then
				return "refuse", util.UNAVAILABLE_TEXT;
			end
			-- Let in unchecked: the enforcement loop checks this meeting once the service answers.
			if opts.enforce then state.unchecked[meeting] = true; end
			return "allow";
		end
		if decision.allow then
			measures.allowed();
			place(room.jid, real_jid, decision);
			module:log("debug", "Join to %s allowed (country %s)", meeting, decision.country or "unknown");
			return "allow";
		end
		measures.refused();
		module:log("info", "Join to %s refused (country %s, restriction %s)", meeting,
			decision.country or "unknown", tostring(decision.restriction));
		return "refuse", util.refusal_text(decision);
	end

	-- Sends a join back through the component from the start, marked as decided, so that it
	-- meets the live room object and every other module's checks again, and our hook lets it
	-- pass without asking twice. A rate limiter may hold the replay in its queue again, for as
	-- long as the queue is: the mark stays good until restrictions change (a new generation),
	-- however long that takes, and only for this instance of the module.
	local function replay(origin, stanza, meeting)
		stanza.joingate_decided = { state = state; meeting = meeting; generation = state.generation };
		module:fire_event("presence/full", { origin = origin; stanza = stanza });
	end

	local function is_session_gone(origin)
		return origin.destroyed or origin.type == "c2s_destroyed";
	end

	-- The module is being unloaded (a reload, say) while this join waited, and its call was cut:
	-- the service did not fail, so the fail mode must not decide. The join goes through the
	-- component again once the reload is done (a plain timer: this module's own end with it),
	-- and the module loaded next decides it; with none loaded, it is not gated, like every
	-- join after it.
	local function hand_over(origin, stanza)
		stanza.joingate_decided = nil;
		timer.add_task(0, function ()
			if is_session_gone(origin) then return; end
			module:fire_event("presence/full", { origin = origin; stanza = stanza });
		end);
	end

	-- A join that arrived outside an async runner: decide it in a runner of our own.
	local function decide_later(origin, stanza, room, meeting, ip)
		local runner = async.runner(function ()
			local decision, err = authorize(meeting, ip);
			if is_session_gone(origin) then return; end
			if state.unloading then return hand_over(origin, stanza); end
			local verdict, text = judge(room, meeting, stanza.attr.from, decision, err);
			if verdict == "refuse" then
				refuse(origin, stanza, room.jid, text);
			else
				replay(origin, stanza, meeting);
			end
		end, {
			error = function (_, e)
				module:log("error", "joingate could not decide a join to %s: %s", meeting, e);
			end;
		});
		runner:run(true);
	end

	local function take_replayed_decision(stanza, meeting)
		local decided = stanza.joingate_decided;
		if not decided then return false; end
		stanza.joingate_decided = nil;
		return decided.state == state and decided.meeting == meeting and decided.generation == state.generation;
	end

	local function on_pre_join(event)
		local room, stanza, origin = event.room, event.stanza, event.origin;
		local real_jid = stanza.attr.from;
		if meetings.is_exempt_jid(real_jid) then
			measures.exempt();
			return;
		end
		if meetings.is_main_participant(real_jid) then
			measures.from_main();
			return; -- mirrored to this visitor node; gated by the main deployment
		end
		local meeting, why = meetings.meeting_of(room);
		if not meeting then
			module:log("info", "Join to %s refused: %s", room.jid, why);
			return refuse(origin, stanza, room.jid, NO_MEETING_TEXT);
		end
		if meetings.is_exempt_room(meeting) then
			measures.exempt();
			return;
		end
		if take_replayed_decision(stanza, meeting) then
			return; -- decided before the replay
		end

		local ip, unlocated_why = meetings.client_address(origin);
		if not ip then
			if fallback(opts.unlocated_mode, meeting, unlocated_why) then return; end
			return refuse(origin, stanza, room.jid, util.UNLOCATED_TEXT);
		end
		if opts.admit_unrestricted and state.feed_connected and not util.covers(state.restricted, meeting) then
			-- The live feed says no restriction is active in this meeting, so the service can
			-- only answer "allow": admit at once and ask right after (for the country the
			-- census counts, and the service's own counts). Should the answer still be "deny",
			-- the participant is removed the moment it arrives; restricted meetings wait.
			measures.admitted_early();
			verify_after_join(room, meeting, real_jid, event.occupant.nick, ip);
			return;
		end
		if sessions.admits(origin, meeting) then
			-- The service said when this session started that this meeting admits it, and no
			-- restriction changed since: admit and ask right after, as above.
			measures.admitted_session();
			module:log("debug", "Join to %s admitted on the session's verdicts", meeting);
			verify_after_join(room, meeting, real_jid, event.occupant.nick, ip);
			return;
		end
		if not async.ready() then
			decide_later(origin, stanza, room, meeting, ip);
			return true;
		end

		local decision, err = authorize(meeting, ip);
		if state.unloading then
			hand_over(origin, stanza);
			return true;
		end

		-- The join waited: what Prosody decided before this hook may be stale. A room that
		-- closed, or whose object Prosody evicted and restored meanwhile (its room cache is
		-- bounded), is not where this join can continue: replay it from the start.
		if room._data.destroyed or muc.get_room_from_jid(room.jid) ~= room then
			if is_session_gone(origin) then return true; end
			local verdict, text = judge(room, meeting, real_jid, decision, err);
			if verdict == "refuse" then return refuse(origin, stanza, room.jid, text); end
			replay(origin, stanza, meeting);
			return true;
		end
		local taken = room:get_occupant_by_nick(event.occupant.nick);
		if taken and taken.bare_jid ~= jid_bare(real_jid) then
			origin.send(st.error_reply(stanza, "cancel", "conflict", nil, room.jid));
			return true;
		end

		local verdict, text = judge(room, meeting, real_jid, decision, err);
		if verdict == "refuse" then return refuse(origin, stanza, room.jid, text); end
	end

	return {
		on_pre_join = on_pre_join;
		remove = remove;
		place = place;
		place_in = place_in;
		placed_country = placed_country;
		BATCH_SIZE = BATCH_SIZE;
	};
end
