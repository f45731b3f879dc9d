-- joingate_session: a client session's verdicts, learnt when the session starts, so that its
-- joins into restricted meetings need not wait for the service.
--
-- When a client session binds its resource on a VirtualHost of this Prosody while some
-- meeting has a restriction in force, POST /v1/authorize/session {ip} is sent once, without
-- holding up the bind. The service answers which of the restricted meetings would refuse that
-- address, and the enforcement epoch the answer holds for. Jitsi's client asks Jicofo for the
-- conference (a round trip through Jicofo at least) before it sends its MUC join, so the
-- answer is there by then. A join into a meeting the answer does not deny, while the feed is
-- at the same epoch (no restriction changed since) and the answer is younger than
-- joingate_cache_ttl (a GeoIP update or correction is not announced by the feed), is admitted
-- at once and checked right after, like a join into a meeting without a restriction
-- (joingate_gate). Every other join asks per join: a refusal is always the service's answer to
-- that very join, counted and worded by it.
--
-- The answer is kept on the session (session.joingate_verdicts) with the service it came
-- from: the module loaded on the breakout and lobby components uses the one the conference
-- component's module asked for instead of asking again, and a module reloaded with another
-- joingate_url never uses it. Nothing here logs an address.

-- luacheck: globals module, read globals prosody

local json_null = require "util.json".null;
local time_now = require "util.time".now;
local new_cache = require "util.cache".new;

local util = module:require "joingate_util";

local LIMIT = 5; -- seconds the answer may take; a join before it arrives asks per join

return function (ctx)
	local opts, state, http, meetings, measures = ctx.options, ctx.state, ctx.http, ctx.meetings,
		ctx.measures;
	local service = ctx.base_url;
	-- Both early admissions go by joingate_admit_unrestricted; joingate_cache_ttl = 0 (no
	-- remembered answers) turns this one off too.
	local enabled = opts.admit_unrestricted and opts.cache_ttl > 0;

	-- Answers depend on the address's placement only, so many sessions get the same list: they
	-- share one set (with 1,000 restricted meetings a set is tens of KB, and every session in
	-- a covered country would hold one). Keyed by the list as the service sent it; a set is
	-- never changed once made.
	local shared_sets = new_cache(256);
	local function shared(answer, denied)
		local key = table.concat(answer.denied, "\0");
		local found = shared_sets:get(key);
		if found then return found; end
		shared_sets:set(key, denied);
		return denied;
	end

	local function learn(event)
		local session = event.session;
		if session.joingate_verdicts or not state.feed_connected or next(state.restricted) == nil then
			return; -- asked already (by another component's module), or nothing to learn
		end
		if meetings.is_exempt_jid(session.full_jid) then return; end
		local ip = meetings.client_address(session);
		if not ip then return; end
		local known = { service = service };
		session.joingate_verdicts = known;
		http.request("POST", "/v1/authorize/session", { ip = ip }, LIMIT, function (answer, err)
			local verdicts;
			if answer then verdicts, err = util.parse_session(answer, json_null); end
			if not verdicts then
				if session.joingate_verdicts == known then session.joingate_verdicts = nil; end
				if state.unloading then return; end -- cut by an unload: not the service's fault
				measures.service_errors();
				http.complain("session", err, "joingate did not answer a session's check: %s", err);
				return;
			end
			-- Without `denied` (more restricted meetings than the service lists) every join asks.
			known.denied = verdicts.denied and shared(answer, verdicts.denied);
			known.epoch = verdicts.epoch;
			known.expires = time_now() + opts.cache_ttl;
			if verdicts.denied then
				local refusing = 0;
				for _ in pairs(verdicts.denied) do refusing = refusing + 1; end
				module:log("debug", "Session verdicts learnt at epoch %d: %d restricted meetings refuse it",
					verdicts.epoch, refusing);
			else
				module:log("debug", "Session verdicts not listed (too many restricted meetings): its joins ask");
			end
		end);
	end

	-- Does the answer learnt when `session` started admit it into `meeting` (a meeting with a
	-- restriction in force) now?
	local function admits(session, meeting)
		if not (enabled and state.feed_connected) then return false; end
		local known = session.joingate_verdicts;
		if not (known and known.denied and known.service == service and known.epoch == state.epoch
			and known.expires > time_now()) then
			return false;
		end
		-- Same epoch, same restricted meetings as the feed's: a meeting it names is judged by
		-- its own verdict, any other by the verdict for all meetings ("*").
		if state.restricted[meeting] then return not known.denied[meeting]; end
		return not known.denied["*"];
	end

	-- Hooks the session start on every VirtualHost, those activated later too. The hooks are
	-- the module's own (module:context), so Prosody removes them when it is unloaded.
	local function start()
		if not enabled then return; end
		local function watch(host)
			local host_session = prosody.hosts[host];
			if host_session and host_session.type == "local" then
				module:context(host):hook("resource-bind", learn);
			end
		end
		for host in pairs(prosody.hosts) do watch(host); end
		module:hook_global("host-activated", watch);
	end

	return { start = start; admits = admits };
end
