-- mod_joingate: asks the joingate service whether a participant may join a meeting, and removes
-- participants a new restriction covers while the meeting goes on.
--
-- Load it on the MUC component (Jitsi: the "conference" component). See README.md beside this
-- file for the options. No IP address is ever written to a log line by this module.

-- Prosody gives each module its `module` object (module.unload is set below) and `prosody`.
-- luacheck: globals module, read globals prosody

local async = require "util.async";
local http = require "net.http";
local json = require "util.json";
local st = require "util.stanza";
local jid_bare = require "util.jid".bare;
local formencode = require "util.http".formencode;
local time_now = require "util.time".now;
local new_cache = require "util.cache".new;

local util = module:require "joingate_util";

-- Options are read once, here.
local base_url, url_err = util.base_url(module:get_option_string("joingate_url"));
local token = module:get_option_string("joingate_token");
local timeout = module:get_option_number("joingate_timeout", 0.3);
local fail_mode = module:get_option_string("joingate_fail_mode", "restricted");
local unlocated_mode = module:get_option_string("joingate_unlocated", "restricted");
local removal_reason = module:get_option_string("joingate_removal_reason",
	"You were removed from this meeting: participants from your location cannot take part in it.");
local exempt_jid_globs = module:get_option_array("joingate_exempt_jids", {
	"focus@auth.*", "jibri@auth.*", "jigasi@auth.*", "transcriber@auth.*",
	"*@recorder.*", "*@hidden.*", -- Jibri's/transcriber's hidden domain (Debian; docker-jitsi-meet)
});
local exempt_room_globs = module:get_option_array("joingate_exempt_rooms", { "__jicofo-health-check*" });
local enforce = module:get_option_boolean("joingate_enforce", true);
local poll_wait = module:get_option_number("joingate_poll_wait", 25);
local census_interval = module:get_option_number("joingate_census_interval", 60);
local cache_ttl = module:get_option_number("joingate_cache_ttl", 60);
local admit_unrestricted = module:get_option_boolean("joingate_admit_unrestricted", true);
local census_source = module:get_option_string("joingate_census_source", module.host);
local batch_size = 1000; -- the service's limit per /v1/authorize/batch call

if not base_url then
	module:log("error", "joingate_url %s: the join gate is DISABLED on %s and every join is let through",
		module:get_option_string("joingate_url") and ("is invalid (" .. url_err .. ")") or "is not set", module.host);
	return;
end
if not token then
	module:log("error", "joingate_token is not set: the service will refuse every call, so joins follow"
		.. " joingate_fail_mode (%s)", fail_mode);
end
if not util.FAIL_MODES[fail_mode] then
	module:log("error", "joingate_fail_mode %q is not open, closed or restricted; using restricted", fail_mode);
	fail_mode = "restricted";
end
if not util.FAIL_MODES[unlocated_mode] then
	module:log("error", "joingate_unlocated %q is not open, closed or restricted; using restricted", unlocated_mode);
	unlocated_mode = "restricted";
end
if timeout <= 0 then
	module:log("error", "joingate_timeout must be positive; using 0.3 s");
	timeout = 0.3;
end
if poll_wait < 1 then poll_wait = 1; end

local is_exempt_jid, bad_jid_globs = util.glob_matcher(exempt_jid_globs);
local is_exempt_room, bad_room_globs = util.glob_matcher(exempt_room_globs);
if #bad_jid_globs > 0 or #bad_room_globs > 0 then
	module:log("error", "Ignoring invalid entries in joingate_exempt_jids/joingate_exempt_rooms");
end

local muc = module:depends("muc");

local measure_allowed = module:measure("joins_allowed", "rate");
local measure_refused = module:measure("joins_refused", "rate");
local measure_exempt = module:measure("joins_exempt", "rate");
local measure_fallback_allowed = module:measure("joins_fallback_allowed", "rate");
local measure_fallback_refused = module:measure("joins_fallback_refused", "rate");
local measure_authorize = module:measure("authorize", "times");
local measure_service_errors = module:measure("service_errors", "rate");
local measure_removals = module:measure("removals", "rate");
local measure_sweeps = module:measure("sweeps", "rate");
local measure_cache_hits = module:measure("cache_hits", "rate");
local measure_admitted_early = module:measure("joins_admitted_early", "rate");

-- The country the service placed each present participant in ("" = not placed), for the
-- census: counts per meeting and country, never an address. Keyed by room and real JID;
-- bounded, and entries of people who left simply age out.
local placed = new_cache(20000);
local function place(room_jid, real_jid, country)
	placed:set(room_jid .. " " .. real_jid, country or "");
end

-- Rooms that had an active restriction at the last successful contact ("*" = all meetings);
-- what the "restricted" fail mode relies on. Kept in Prosody's storage so that a Prosody
-- restarted while the service is away still knows them.
local store = module:open_store("joingate");
local restricted = {};
do
	local saved = store:get(nil);
	if type(saved) == "table" and type(saved.restricted) == "table" then
		for _, name in ipairs(saved.restricted) do
			if type(name) == "string" then restricted[name] = true; end
		end
	end
end

local function save_restricted(set)
	local list = {};
	for name in pairs(set) do list[#list + 1] = name; end
	table.sort(list);
	local ok, err = store:set(nil, { restricted = list });
	if not ok then
		module:log("warn", "Could not save the list of restricted rooms: %s", err);
	end
end

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

-- Counts enforcement answers that named changed rooms; a join whose answer was computed before a
-- change is asked again, so that no join slips in between a restriction and its sweep.
local enforcement_generation = 0;

-- Meetings someone entered without an answer from the service (fail mode let them in); they are
-- swept as soon as the service answers again, so an outage cannot leave a covered participant in.
local unchecked = {};

-- True while the enforcement long-poll is answered: only then can a remembered "allow" be
-- trusted, because only then does a change of restrictions reach us (and bump the generation).
local feed_connected = false;

-- Recent "allow" answers by meeting and address, in memory only, so that a participant who
-- reconnects or reloads the page does not pay a second round trip. Any change of restrictions
-- (a new generation) voids them all; refusals are never remembered, so the service sees and
-- counts every one.
local allowed = new_cache(10000);

-- Complaints about the service are logged at most once a minute each, not once per join.
local last_complaint = {};
local function complain(key, err, fmt, ...)
	local now = time_now();
	if (last_complaint[key] or 0) + 60 <= now then
		last_complaint[key] = now;
		-- A refused token is a configuration error, not an outage.
		local level = err and err:match("^HTTP status 40[13]") and "error" or "warn";
		module:log(level, fmt, ...);
	end
end

local headers = {
	["Authorization"] = token and ("Bearer " .. token) or nil;
	["Content-Type"] = "application/json";
	["Accept"] = "application/json";
};

-- One HTTP call to the service, abandoned after `limit` seconds (net.http has no timeout of
-- its own). `callback(decoded, err)` gets the decoded JSON body of a 200 answer, or nil, err;
-- it is called exactly once.
local in_flight = {};
local function request(method, path, body, limit, callback)
	local finished, req, timer;
	local function finish(resp_body, code)
		if finished then return; end
		finished = true;
		if timer then timer:stop(); end
		if req then in_flight[req] = nil; end
		if code == "timeout" then
			return callback(nil, "no answer within " .. limit .. " s");
		elseif type(code) ~= "number" or code == 0 then
			return callback(nil, "connection failed: " .. tostring(resp_body));
		elseif code == 401 or code == 403 then
			return callback(nil, "HTTP status " .. code .. " (check joingate_token)");
		elseif code ~= 200 then
			return callback(nil, "HTTP status " .. code);
		end
		local decoded = type(resp_body) == "string" and json.decode(resp_body);
		if type(decoded) ~= "table" then
			return callback(nil, "answer is not JSON");
		end
		return callback(decoded);
	end
	-- net.http raises on some local problems (an https URL without TLS support, say); that
	-- must become a failed call, decided by the fail mode, not an error that drops the join.
	local ok, made = pcall(http.request, base_url .. path, {
		method = method;
		headers = headers;
		body = body and json.encode(body) or nil;
		suppress_url = true;
	}, function (resp_body, code)
		finish(resp_body, code);
	end);
	if not ok then
		return finish(tostring(made), 0);
	end
	if not finished then
		req = made;
		if req then in_flight[req] = true; end
		timer = module:add_timer(limit, function ()
			if finished then return; end
			local r = req;
			finish(nil, "timeout");
			if r then http.destroy_request(r); end
		end);
	end
end

-- The same, waited for inside the current async runner: returns decoded, or nil, err.
local function call(method, path, body, limit)
	local wait, done = async.waiter();
	local result, err;
	request(method, path, body, limit, function (decoded, e)
		result, err = decoded, e;
		done();
	end);
	wait();
	return result, err;
end

local function authorize_once(room_name, ip)
	local done_timing = measure_authorize();
	local answer, err = call("POST", "/v1/authorize", { room = room_name; ip = ip }, timeout);
	done_timing();
	if not answer then return nil, err; end
	return util.parse_decision(answer);
end

-- The answer for one join: a decision table, or nil, err when the service could not give one.
local function authorize(room_name, ip)
	local key = room_name .. " " .. ip;
	if cache_ttl > 0 and feed_connected then
		local hit = allowed:get(key);
		if hit and hit.generation == enforcement_generation and hit.expires > time_now() then
			measure_cache_hits();
			module:log("debug", "Join to %s: remembered answer", room_name);
			return hit.decision;
		end
	end
	local generation = enforcement_generation;
	local decision, err = authorize_once(room_name, ip);
	if decision and decision.allow and generation ~= enforcement_generation then
		generation = enforcement_generation;
		decision, err = authorize_once(room_name, ip);
	end
	if decision and decision.allow and cache_ttl > 0 then
		allowed:set(key, { decision = decision; generation = generation; expires = time_now() + cache_ttl });
	end
	return decision, err;
end

local function client_ip(session)
	-- Only local client sessions (TCP, BOSH, websocket) carry the participant's own address;
	-- session.ip already went through trusted_proxies for BOSH and websocket.
	if session and session.type == "c2s" then
		return util.normalize_ip(session.ip);
	end
	return nil;
end

local function remove(room, room_name, nick, real_jid, decision, when)
	-- Only someone who is still there in the same session: answers take a moment.
	local occupant = room:get_occupant_by_nick(nick);
	if not (occupant and occupant.sessions[real_jid]) then return false; end
	local ok, _, condition = room:set_role(true, nick, nil, removal_reason);
	if not ok then
		module:log("warn", "Could not remove a participant from %s: %s", room_name, condition);
		return false;
	end
	measure_removals();
	module:log("info", "Removed a participant from %s%s (country %s, restriction %s)", room_name, when,
		decision and decision.country or "unknown", decision and tostring(decision.restriction) or "none");
	return true;
end

-- Joins admitted early are checked together: one batch call per 50 ms instead of one call per
-- join keeps the HTTP work (Prosody has one thread) off the joins themselves.
local verify_queue = {};
local VERIFY_DELAY = 0.05;

local function verify_queued()
	local queue = verify_queue;
	verify_queue = {};
	for _, chunk in ipairs(util.chunks(queue, batch_size)) do
		local checks = {};
		for i, item in ipairs(chunk) do
			checks[i] = { room = item.room_name; ip = item.ip };
		end
		request("POST", "/v1/authorize/batch", { checks = checks; purpose = "admitted" }, 5 + timeout,
			function (answer, err)
				local results;
				if answer then results, err = util.parse_batch(answer, #chunk); end
				if not results then
					measure_service_errors();
					complain("verify", err, "joingate did not check %d joins admitted early: %s", #chunk, err);
					if enforce then
						for _, item in ipairs(chunk) do unchecked[item.room_name] = true; end
					end
					return;
				end
				for i, decision in ipairs(results) do
					local item = chunk[i];
					if decision.allow then
						place(item.room.jid, item.real_jid, decision.country);
					else
						remove(item.room, item.room_name, item.nick, item.real_jid, decision, " right after joining");
					end
				end
			end);
	end
end

local function verify_after_join(room, room_name, real_jid, nick, ip)
	verify_queue[#verify_queue + 1] = {
		room = room; room_name = room_name; real_jid = real_jid; nick = nick; ip = ip;
	};
	if #verify_queue == 1 then
		module:add_timer(VERIFY_DELAY, verify_queued);
	end
end

local function room_name_of(room)
	return util.room_name(room.jid);
end

local function refuse(event, text)
	event.origin.send(st.error_reply(event.stanza, "cancel", "not-allowed", text, event.room.jid));
	return true;
end

local function fallback(mode, room_name, why)
	if util.fallback_allows(mode, restricted, room_name) then
		measure_fallback_allowed();
		module:log("info", "Join to %s let through without an answer from joingate (%s mode: %s)",
			room_name, mode, why);
		return nil;
	end
	measure_fallback_refused();
	module:log("info", "Join to %s refused without an answer from joingate (%s mode: %s)",
		room_name, mode, why);
	return false;
end

module:hook("muc-occupant-pre-join", function (event)
	local room, stanza = event.room, event.stanza;
	local room_name = room_name_of(room);
	if not room_name or is_exempt_room(room_name) or is_exempt_jid(jid_bare(stanza.attr.from)) then
		measure_exempt();
		return;
	end

	local ip = client_ip(event.origin);
	if not ip then
		if fallback(unlocated_mode, room_name, "the participant's address is unknown") == false then
			return refuse(event, util.UNLOCATED_TEXT);
		end
		return;
	end
	if admit_unrestricted and feed_connected and not util.covers(restricted, room_name) then
		-- The live feed says no restriction is active in this meeting, so the service can only
		-- answer "allow": admit at once and ask right after (for the country the census
		-- counts, and the service's own counts). Should the answer still be "deny", the
		-- participant is removed the moment it arrives; restricted meetings always wait.
		measure_admitted_early();
		verify_after_join(room, room_name, stanza.attr.from, event.occupant.nick, ip);
		return;
	end
	if not async.ready() then
		-- Only reachable if some other module injects a join outside a session's runner.
		if fallback(fail_mode, room_name, "not in an async context") == false then
			return refuse(event, util.UNAVAILABLE_TEXT);
		end
		return;
	end

	local decision, err = authorize(room_name, ip);

	-- The join waited: the room may have changed meanwhile. Prosody decided "new room" and
	-- "no nick conflict" before this hook ran, so re-check what waiting can have invalidated.
	if room._data.destroyed or muc.get_room_from_jid(room.jid) ~= room then
		event.origin.send(st.error_reply(stanza, "wait", "item-not-found",
			"The meeting closed while you were joining it. Please try again.", room.jid));
		return true;
	end
	local taken = room:get_occupant_by_nick(event.occupant.nick);
	if taken and taken.bare_jid ~= jid_bare(stanza.attr.from) then
		event.origin.send(st.error_reply(stanza, "cancel", "conflict", nil, room.jid));
		return true;
	end

	if not decision then
		measure_service_errors();
		complain("authorize", err, "joingate did not answer a join check: %s", err);
		if fallback(fail_mode, room_name, err) == false then
			return refuse(event, util.UNAVAILABLE_TEXT);
		end
		-- Let in unchecked: the enforcement loop checks this meeting once the service answers.
		if enforce then unchecked[room_name] = true; end
		return;
	end
	if decision.allow then
		measure_allowed();
		place(room.jid, stanza.attr.from, decision.country);
		module:log("debug", "Join to %s allowed (country %s)", room_name, decision.country or "unknown");
		return;
	end
	measure_refused();
	module:log("info", "Join to %s refused (country %s, restriction %s)", room_name,
		decision.country or "unknown", tostring(decision.restriction));
	return refuse(event, util.refusal_text(decision));
end, -100); -- after Prosody's and Jitsi's own checks, so the service is asked only about joins
            -- that would otherwise succeed

-- Census ---------------------------------------------------------------------------------------

local function census_counts()
	local rooms = {};
	for room in muc.live_rooms() do
		local room_name = room_name_of(room);
		if room_name and not is_exempt_room(room_name) then
			local counts;
			for _, occupant in room:each_occupant() do
				local real_jid = occupant.jid;
				if real_jid and not is_exempt_jid(jid_bare(real_jid)) then
					local country = placed:get(room.jid .. " " .. real_jid) or "";
					counts = counts or {};
					counts[country] = (counts[country] or 0) + 1;
				end
			end
			if counts then rooms[room_name] = counts; end
		end
	end
	return rooms;
end

if census_interval > 0 then
	local census_busy = false;
	local census_runner = async.runner(function ()
		census_busy = true;
		local answer, err = call("POST", "/v1/census", { source = census_source; rooms = census_counts() },
			5 + timeout);
		if not answer then
			complain("census", err, "joingate did not take the census report: %s", err);
		end
		census_busy = false;
	end, {
		error = function (_, err)
			census_busy = false;
			module:log("error", "joingate census report failed: %s", err);
		end;
	});
	module:add_timer(math.min(census_interval, 5), function ()
		if not census_busy then -- a slow service gets one report at a time, not a queue
			census_runner:run(true);
		end
		return census_interval;
	end);
end

module:log("info", "joingate gate active on %s (fail mode %s, timeout %s s, removal %s)", module.host,
	fail_mode, tostring(timeout), enforce and "on" or "off");

if not enforce then
	return;
end

-- Mid-meeting removal -------------------------------------------------------------------------

local stopped = false;

local function sleep(seconds)
	local wait, done = async.waiter();
	module:add_timer(seconds, function () done(); end);
	wait();
end

-- The occupants of the rooms in `changed` ("*" = every room) who must leave now. Runs inside
-- the enforcement runner. Returns true when every check got an answer.
local function sweep(changed)
	local checks, targets = {}, {};
	local unlocated = {};
	for room in muc.live_rooms() do
		local room_name = room_name_of(room);
		if room_name and util.covers(changed, room_name) and not is_exempt_room(room_name) then
			for nick, occupant in room:each_occupant() do
				for real_jid in occupant:each_session() do
					if not is_exempt_jid(jid_bare(real_jid)) then
						local ip = client_ip(prosody.full_sessions[real_jid]);
						local target = { room = room; room_name = room_name; nick = nick; real_jid = real_jid };
						if ip then
							checks[#checks + 1] = { room = room_name; ip = ip };
							targets[#targets + 1] = target;
						else
							unlocated[#unlocated + 1] = target;
						end
					end
				end
			end
		end
	end
	measure_sweeps();

	local to_remove = {};
	local offset = 0;
	for _, chunk in ipairs(util.chunks(checks, batch_size)) do
		local answer, err = call("POST", "/v1/authorize/batch", { checks = chunk; purpose = "sweep" }, 5 + timeout);
		local results;
		if answer then
			results, err = util.parse_batch(answer, #chunk);
		end
		if not results then
			measure_service_errors();
			complain("sweep", err, "joingate did not answer a sweep of %d occupants: %s", #chunk, err);
			return false;
		end
		for i, decision in ipairs(results) do
			local target = targets[offset + i];
			if decision.allow then
				place(target.room.jid, target.real_jid, decision.country);
			else
				target.decision = decision;
				to_remove[#to_remove + 1] = target;
			end
		end
		offset = offset + #chunk;
	end
	if unlocated_mode ~= "open" then
		for _, target in ipairs(unlocated) do
			if not util.fallback_allows(unlocated_mode, restricted, target.room_name) then
				to_remove[#to_remove + 1] = target;
			end
		end
	end

	local removed = {};
	for _, target in ipairs(to_remove) do
		local key = target.room.jid .. "/" .. target.nick;
		if not removed[key] then
			removed[key] = remove(target.room, target.room_name, target.nick, target.real_jid,
				target.decision, "");
		end
	end
	return true;
end

local function enforcement_loop()
	local epoch = 0;
	local failures = 0;
	local pending = nil; -- rooms whose sweep has not succeeded yet
	while not stopped do
		if pending then
			if sweep(pending) then
				pending = nil;
				failures = 0;
			else
				feed_connected = false; -- no remembered answers until the service answers again
				failures = failures + 1;
				sleep(util.backoff(failures));
			end
		else
			local query = formencode({ { name = "after"; value = ("%d"):format(epoch) };
				{ name = "wait"; value = ("%d"):format(math.floor(poll_wait)) } });
			local answer, err = call("GET", "/v1/enforcement?" .. query, nil, poll_wait + 10);
			local update;
			if answer then
				update, err = util.parse_enforcement(answer);
			end
			if stopped then break; end
			if not update then
				measure_service_errors();
				feed_connected = false;
				failures = failures + 1;
				complain("enforcement", err, "joingate enforcement feed unavailable (%s); retrying in %d s",
					err, util.backoff(failures));
				sleep(util.backoff(failures));
			else
				if not feed_connected then
					feed_connected = true;
					module:log("info", "joingate enforcement feed connected");
				end
				failures = 0;
				epoch = update.epoch;
				module:log("debug", "Enforcement update: %d changed, %d restricted",
					count(update.rooms), count(update.restricted));
				if not same_set(restricted, update.restricted) then
					restricted = update.restricted;
					save_restricted(restricted);
				end
				if next(update.rooms) ~= nil then
					enforcement_generation = enforcement_generation + 1;
					pending = update.rooms;
				end
				if next(unchecked) ~= nil then
					pending = pending or {};
					for room_name in pairs(unchecked) do pending[room_name] = true; end
					unchecked = {};
				end
			end
		end
	end
end

local runner;
runner = async.runner(function ()
	enforcement_loop();
end, {
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

function module.unload()
	stopped = true;
	for req in pairs(in_flight) do
		http.destroy_request(req);
	end
end
