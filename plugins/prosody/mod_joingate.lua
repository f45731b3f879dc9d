-- mod_joingate: asks the joingate service whether a participant may join a meeting, and removes
-- participants a new restriction covers while the meeting goes on.
--
-- Load it on every MUC component that holds a meeting's rooms (Jitsi: the conference component,
-- and with joingate_main_muc the breakout and lobby components; on visitor nodes too). See
-- README.md beside this file for the options. This file reads the options and wires the hooks;
-- the work is in the *.lib.lua files beside it:
--   joingate_util     pure helpers (room names, answers, fail-mode rules)
--   joingate_http     calls to the service with a time limit
--   joingate_client   HTTP/1.1 over connections kept open between calls (http:// services)
--   joingate_meetings which meeting a room belongs to, exemptions, the client address
--   joingate_session  each client session's verdicts, learnt when it starts
--   joingate_gate     the door: every join decided; removals
--   joingate_feed     the enforcement feed and the mid-meeting sweep
--   joingate_census   counts per meeting and country
-- No IP address is ever written to a log line by this module.

-- Prosody gives each module its `module` object (module.unload is set below) and `prosody`.
-- luacheck: globals module

local configmanager = require "core.configmanager";

local util = module:require "joingate_util";

-- Jitsi's service accounts. The component's admins (Jicofo's focus) are exempt too, and an
-- entry matches only JIDs on hosts of this Prosody. joingate_exempt_jids adds to these.
local DEFAULT_EXEMPT_JIDS = {
	"focus@auth.*", "jibri@auth.*", "jigasi@auth.*", "transcriber@auth.*",
	"*@recorder.*", "*@hidden.*", -- Jibri's/transcriber's hidden domain (Debian; docker-jitsi-meet)
};

-- Options are read once, here.
local base_url, url_err = util.base_url(module:get_option_string("joingate_url"));
local options = {
	token = module:get_option_string("joingate_token");
	timeout = module:get_option_number("joingate_timeout", 0.3);
	fail_mode = module:get_option_string("joingate_fail_mode", "restricted");
	unlocated_mode = module:get_option_string("joingate_unlocated", "restricted");
	removal_reason = module:get_option_string("joingate_removal_reason",
		"You were removed from this meeting: participants from your location cannot take part in it.");
	enforce = module:get_option_boolean("joingate_enforce", true);
	poll_wait = module:get_option_number("joingate_poll_wait", 25);
	census_interval = module:get_option_number("joingate_census_interval", 60);
	cache_ttl = module:get_option_number("joingate_cache_ttl", 60);
	admit_unrestricted = module:get_option_boolean("joingate_admit_unrestricted", true);
	sweep_hold_gc = module:get_option_boolean("joingate_sweep_hold_gc", true);
	census_source = module:get_option_string("joingate_census_source");
	main_muc = module:get_option_string("joingate_main_muc");
};
-- On a Jitsi visitor node: the main deployment's domains. Jitsi's mod_fmuc needs main_domain
-- there; joingate_main_domains adds more (each with its subdomains).
local main_domains = { module:get_option_string("main_domain") };
for _, domain in ipairs(module:get_option_array("joingate_main_domains", {})) do
	main_domains[#main_domains + 1] = domain;
end
local exempt_jid_globs = {};
for _, glob in ipairs(DEFAULT_EXEMPT_JIDS) do exempt_jid_globs[#exempt_jid_globs + 1] = glob; end
for _, glob in ipairs(module:get_option_array("joingate_exempt_jids", {})) do
	exempt_jid_globs[#exempt_jid_globs + 1] = glob;
end
local exempt_room_globs = module:get_option_array("joingate_exempt_rooms", {});

if not base_url then
	module:log("error", "joingate_url %s: the join gate is DISABLED on %s and every join is let through",
		module:get_option_string("joingate_url") and ("is invalid (" .. url_err .. ")") or "is not set", module.host);
	return;
end
if not options.token then
	module:log("error", "joingate_token is not set: the service will refuse every call, so joins follow"
		.. " joingate_fail_mode (%s)", options.fail_mode);
end
if not util.FAIL_MODES[options.fail_mode] then
	module:log("error", "joingate_fail_mode %q is not open, closed or restricted; using restricted", options.fail_mode);
	options.fail_mode = "restricted";
end
if not util.FAIL_MODES[options.unlocated_mode] then
	module:log("error", "joingate_unlocated %q is not open, closed or restricted; using restricted",
		options.unlocated_mode);
	options.unlocated_mode = "restricted";
end
if options.timeout <= 0 then
	module:log("error", "joingate_timeout must be positive; using 0.3 s");
	options.timeout = 0.3;
end
if options.poll_wait < 1 then options.poll_wait = 1; end
-- A census report replaces the last one from the same source, and every component reports its
-- own rooms: a name given to the whole Prosody (a shard) is qualified by the component, so that
-- the conference and breakout components do not overwrite each other's counts.
options.census_source = options.census_source and (options.census_source .. "/" .. module.host) or module.host;
-- Jitsi names its breakout and lobby components on the VirtualHost, next to main_muc
-- (breakout_rooms_muc, lobby_muc): rooms on a component named there belong to meetings of that
-- main MUC. joingate_main_muc says it explicitly.
local function jitsi_main_muc()
	for host in pairs(configmanager.getconfig()) do
		if host ~= "*" and (configmanager.rawget(host, "breakout_rooms_muc") == module.host
			or configmanager.rawget(host, "lobby_muc") == module.host) then
			local main = configmanager.get(host, "main_muc");
			if type(main) == "string" then return main; end
		end
	end
	return nil;
end
options.main_muc = options.main_muc or jitsi_main_muc();
if options.main_muc == module.host then options.main_muc = nil; end

local bad_jid_globs, bad_room_globs, bad_domains, known_main_domains;
options.exempt_jid_matcher, bad_jid_globs = util.glob_matcher(exempt_jid_globs);
options.exempt_room_matcher, bad_room_globs = util.glob_matcher(exempt_room_globs);
options.main_domain_matcher, bad_domains, known_main_domains = util.domain_matcher(main_domains);
options.visitor_node = #known_main_domains > 0;
if #bad_jid_globs > 0 or #bad_room_globs > 0 then
	module:log("error", "Ignoring invalid entries in joingate_exempt_jids/joingate_exempt_rooms");
end
if #bad_domains > 0 then
	module:log("error", "Ignoring entries of main_domain/joingate_main_domains that are not domain names: %s",
		table.concat(bad_domains, ", "));
end

local measures = {
	allowed = module:measure("joins_allowed", "rate");
	refused = module:measure("joins_refused", "rate");
	exempt = module:measure("joins_exempt", "rate");
	from_main = module:measure("joins_from_main", "rate");
	fallback_allowed = module:measure("joins_fallback_allowed", "rate");
	fallback_refused = module:measure("joins_fallback_refused", "rate");
	admitted_early = module:measure("joins_admitted_early", "rate");
	admitted_session = module:measure("joins_admitted_session", "rate");
	service_errors = module:measure("service_errors", "rate");
	removals = module:measure("removals", "rate");
	sweeps = module:measure("sweeps", "rate");
	cache_hits = module:measure("cache_hits", "rate");
	authorize = module:measure("authorize", "times");
};

-- Meetings that had an active restriction at the last successful contact ("*" = all meetings);
-- what the "restricted" fail mode relies on. Kept in Prosody's storage so that a Prosody
-- restarted while the service is away still knows them.
local store = module:open_store("joingate");
local function saved_restricted()
	local set = {};
	local saved = store:get(nil);
	if type(saved) == "table" and type(saved.restricted) == "table" then
		for _, name in ipairs(saved.restricted) do
			if type(name) == "string" then set[name] = true; end
		end
	end
	return set;
end

local ctx = {
	options = options;
	base_url = base_url;
	measures = measures;
	store = store;
	muc = module:depends("muc");
	http = module:require("joingate_http")(base_url, options.token);
	state = {
		restricted = saved_restricted();
		-- True while the enforcement long-poll is answered: only then can a remembered "allow" be
		-- trusted, because only then does a change of restrictions reach us.
		feed_connected = false;
		-- The epoch of the feed's last answer: verdicts a session learnt at this epoch are
		-- current (joingate_session).
		epoch = nil;
		-- Counts enforcement answers that named changed meetings; an answer computed before a
		-- change is asked again.
		generation = 0;
		-- Meetings someone entered without an answer (fail mode let them in); swept as soon as
		-- the service answers again, so an outage cannot leave a covered participant in.
		unchecked = {};
		-- Set when the module is unloaded: joins still waiting are handed to the next one.
		unloading = false;
	};
};
ctx.meetings = module:require("joingate_meetings")(options);
ctx.sessions = module:require("joingate_session")(ctx);
ctx.gate = module:require("joingate_gate")(ctx);

if options.main_muc then
	module:log("info", "joingate: rooms on %s count as meetings of %s", module.host, options.main_muc);
end
if options.visitor_node then
	module:log("info", "joingate: visitor node of %s; participants mirrored from there are gated there,"
		.. " not here", table.concat(known_main_domains, ", "));
end

module:hook("muc-occupant-pre-join", ctx.gate.on_pre_join, -100); -- after Prosody's and Jitsi's own
	-- checks, so the service is asked only about joins that would otherwise succeed
ctx.sessions.start();

if options.census_interval > 0 then
	module:require("joingate_census")(ctx).start();
end

module:log("info", "joingate gate active on %s (fail mode %s, timeout %s s, removal %s)", module.host,
	options.fail_mode, tostring(options.timeout), options.enforce and "on" or "off");

local feed;
if options.enforce then
	feed = module:require("joingate_feed")(ctx);
	feed.start();
end

function module.unload()
	ctx.state.unloading = true;
	if feed then feed.stop(); end
	ctx.http.abort_all();
end
