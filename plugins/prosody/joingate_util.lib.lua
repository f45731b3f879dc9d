-- joingate_util: the pure part of mod_joingate.
--
-- No Prosody library is required here, so that these functions can be tested with a plain
-- Lua interpreter (tests/prosody/lua/test_joingate_util.lua). mod_joingate loads this file with
-- module:require "joingate_util"; operators copy it next to mod_joingate.lua.

local M = {};

local FAIL_MODES = { open = true, closed = true, restricted = true };
M.FAIL_MODES = FAIL_MODES;

-- The meeting name the joingate service knows for a MUC room JID (its canonical name): the room
-- node as Prosody keys the room, with Jitsi's tenant form "[tenant]room" (mod_muc_domain_mapper)
-- written "tenant/room". Jitsi's client already percent-encodes and lower-cases the node
-- ("Café Vigil" -> "caf%c3%a9%20vigil"), so nothing is decoded here: two different nodes are
-- always two different names ("tenant\2froom" stays as it is, another room than "[tenant]room").
-- The service computes the same name from the name people see (joingate/rooms.py).
-- Lower-casing is ASCII only and changes nothing in a node Prosody has prepared.
-- Returns nil for a JID without a node (the component itself).
function M.room_name(room_jid)
	if type(room_jid) ~= "string" then return nil; end
	local node = room_jid:match("^([^@/]+)@");
	if not node then return nil; end
	node = node:lower();
	local tenant, room = node:match("^%[([^%]]+)%](.+)$");
	if tenant then
		return tenant .. "/" .. room;
	end
	return node;
end

-- Shell-style globs ("*" matches any run of characters, everything else literally) compiled to
-- anchored Lua patterns, so operators never have to write Lua pattern syntax.
local function glob_to_pattern(glob)
	local escaped = glob:lower():gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0");
	return "^" .. escaped:gsub("%*", ".*") .. "$";
end
M.glob_to_pattern = glob_to_pattern;

-- A matcher over a list of globs: matcher(s) is true when any glob matches s (case-insensitive).
-- Invalid entries (non-strings, empty) are skipped and reported through the second return.
function M.glob_matcher(globs)
	local patterns, rejected = {}, {};
	for _, glob in ipairs(globs or {}) do
		if type(glob) == "string" and glob ~= "" then
			patterns[#patterns + 1] = glob_to_pattern(glob);
		else
			rejected[#rejected + 1] = tostring(glob);
		end
	end
	return function (s)
		if type(s) ~= "string" then return false; end
		s = s:lower();
		for i = 1, #patterns do
			if s:match(patterns[i]) then return true; end
		end
		return false;
	end, rejected;
end

-- A matcher over a list of domains: matcher(host) is true when host is one of them or a
-- subdomain of one (case-insensitive). Entries that are not plain domain names (empty, with
-- "@", "/", "*" or spaces) are skipped and reported through the second return; the third is
-- the list of domains kept, lower-cased.
function M.domain_matcher(domains)
	local accepted, rejected = {}, {};
	for _, domain in ipairs(domains or {}) do
		if type(domain) == "string" and domain:match("^[^@/%*%s]+$") and not domain:match("^%.")
			and not domain:match("%.$") then
			accepted[#accepted + 1] = domain:lower();
		else
			rejected[#rejected + 1] = tostring(domain);
		end
	end
	return function (host)
		if type(host) ~= "string" then return false; end
		host = host:lower();
		for i = 1, #accepted do
			local domain = accepted[i];
			if host == domain or (#host > #domain and host:sub(-#domain - 1) == "." .. domain) then
				return true;
			end
		end
		return false;
	end, rejected, accepted;
end

-- IPv4-mapped IPv6 ("::ffff:192.0.2.1") is the IPv4 address for GeoIP purposes.
function M.normalize_ip(ip)
	if type(ip) ~= "string" or ip == "" then return nil; end
	local v4 = ip:match("^::[fF][fF][fF][fF]:(%d+%.%d+%.%d+%.%d+)$");
	return v4 or ip;
end

local function is_country(v)
	return type(v) == "string" and v:match("^%a%a$") ~= nil;
end

-- Why a decision object from /v1/authorize (or one batch result) is not one, or nil when it is.
-- Only "decision" must be right; the other fields are taken when well-formed and dropped when
-- not, so that garbage never counts as "allow".
local function decision_error(obj)
	if type(obj) ~= "table" then return "decision is not an object"; end
	if obj.decision ~= "allow" and obj.decision ~= "deny" then
		return "decision is neither allow nor deny";
	end
	return nil;
end

-- The country code a decision object names, upper-case, or nil (JSON null decodes to a
-- sentinel in util.json; only codes are kept).
local function country_of(obj)
	local country = obj.country;
	if is_country(country) then return country:upper(); end
	return nil;
end

-- Validates one decision object from /v1/authorize (or one batch result).
-- Returns { allow = bool, country = "CN"|nil, restriction = id|nil, message = str|nil,
-- disputed = bool } or nil, err (disputed: the service's two GeoIP databases disagreed).
function M.parse_decision(obj)
	local err = decision_error(obj);
	if err then return nil, err; end
	local restriction = obj.restriction;
	if type(restriction) ~= "number" and type(restriction) ~= "string" then
		restriction = nil;
	end
	local message = obj.message;
	if type(message) ~= "string" or message == "" or #message > 500 then
		message = nil;
	end
	return {
		allow = obj.decision == "allow";
		country = country_of(obj);
		restriction = restriction;
		message = message;
		disputed = obj.rule == "disputed";
	};
end

-- Where a valid decision object placed the participant, as the census keeps it: the country
-- code ("" = not placed) and whether that was disputed. No table is made: a sweep reads
-- thousands of these.
function M.placement(obj)
	return country_of(obj) or "", obj.rule == "disputed";
end

-- The results of a batch answer, checked: exactly `expected` of them, each a decision object.
-- Returned as they came (read each with parse_decision or placement), or nil, err.
function M.batch_results(obj, expected)
	if type(obj) ~= "table" or type(obj.results) ~= "table" then
		return nil, "batch answer has no results";
	end
	local results = obj.results;
	for i = 1, expected do
		local err = decision_error(results[i]);
		if err then return nil, ("result %d: %s"):format(i, err); end
	end
	if results[expected + 1] ~= nil then
		return nil, "batch answer has more results than checks";
	end
	return results;
end

-- Validates a batch answer: exactly `expected` results, each a valid decision.
function M.parse_batch(obj, expected)
	local results, err = M.batch_results(obj, expected);
	if not results then return nil, err; end
	local decisions = {};
	for i = 1, expected do decisions[i] = M.parse_decision(results[i]); end
	return decisions;
end

-- A string as JSON text: quoted, with '"', '\' and the control characters escaped; every other
-- byte as it is (room names and addresses are UTF-8 already).
local JSON_ESCAPES = { ['"'] = '\\"'; ["\\"] = "\\\\" };
for byte = 0, 31 do JSON_ESCAPES[string.char(byte)] = ("\\u%04x"):format(byte); end
JSON_ESCAPES["\127"] = "\\u007f";

function M.json_string(s)
	if not s:find('[%c"\\]') then return '"' .. s .. '"'; end
	return '"' .. s:gsub('[%c"\\]', JSON_ESCAPES) .. '"';
end

-- One check of a /v1/authorize/batch call as JSON text, {"room": ..., "ip": ...}, the room
-- given as JSON text already (json_string, once per room). A sweep writes its batch bodies from
-- these: one string per check instead of util.json's tables and pieces.
function M.check_json(room_json, ip)
	if ip:find('[%c"\\]') then
		return '{"room":' .. room_json .. ',"ip":' .. M.json_string(ip) .. '}';
	end
	return '{"room":' .. room_json .. ',"ip":"' .. ip .. '"}';
end

-- The body of a /v1/authorize/batch call over checks[first..last] (check_json texts).
function M.batch_body(checks, first, last, purpose)
	return '{"purpose":' .. M.json_string(purpose) .. ',"checks":[' .. table.concat(checks, ",", first, last)
		.. ']}';
end

local function string_set(list)
	if type(list) ~= "table" then return nil; end
	local set = {};
	for _, v in ipairs(list) do
		if type(v) ~= "string" then return nil; end
		set[v:lower()] = true;
	end
	return set;
end

-- Validates an /v1/enforcement answer.
-- Returns { epoch = integer, rooms = set, restricted = set } or nil, err.
function M.parse_enforcement(obj)
	if type(obj) ~= "table" then return nil, "enforcement answer is not an object"; end
	local epoch = obj.epoch;
	if type(epoch) ~= "number" or epoch < 0 or epoch ~= math.floor(epoch) or epoch >= 2^53 then
		return nil, "enforcement epoch is not a non-negative integer";
	end
	local rooms = string_set(obj.rooms);
	if not rooms then return nil, "enforcement rooms is not a list of strings"; end
	local restricted = string_set(obj.restricted);
	if not restricted then return nil, "enforcement restricted is not a list of strings"; end
	return { epoch = epoch, rooms = rooms, restricted = restricted };
end

-- Validates an /v1/authorize/session answer; `null` is the JSON decoder's null value.
-- Returns { epoch = integer, denied = set } or, when the service says to ask per join
-- (denied: null), { epoch = integer } without denied; nil, err for anything else.
function M.parse_session(obj, null)
	if type(obj) ~= "table" then return nil, "session answer is not an object"; end
	local epoch = obj.epoch;
	if type(epoch) ~= "number" or epoch < 0 or epoch ~= math.floor(epoch) or epoch >= 2^53 then
		return nil, "session epoch is not a non-negative integer";
	end
	if obj.denied == null then return { epoch = epoch }; end
	local denied = string_set(obj.denied);
	if not denied then return nil, "session denied is not a list of strings"; end
	return { epoch = epoch, denied = denied };
end

-- Is `room` covered by a set of room names that may contain "*" (all meetings)?
function M.covers(set, room)
	return set ~= nil and (set["*"] == true or (room ~= nil and set[room] == true));
end

-- The decision taken without an answer from the service.
-- mode: "open" | "closed" | "restricted"; restricted: set from the last successful contact.
function M.fallback_allows(mode, restricted, room)
	if mode == "open" then return true; end
	if mode == "closed" then return false; end
	return not M.covers(restricted, room);
end

-- The text a refused participant reads (Jitsi shows it in its "cannot join" dialogue).
function M.refusal_text(decision)
	if decision.message then return decision.message; end
	if decision.country then
		return ("Participants located in %s cannot join this meeting."):format(decision.country);
	end
	return "Participants from your location cannot join this meeting.";
end

M.UNAVAILABLE_TEXT = "This meeting cannot be joined right now because its join check is unavailable."
	.. " Please try again later.";
M.UNLOCATED_TEXT = "This meeting is restricted and your connection could not be located.";

-- Does a name carry a bidirectional embedding, override or isolate control (U+202A-202E,
-- U+2066-2069)? The service refuses such text, so a meeting named with one (any XMPP client can
-- make such a room) is left out of the census instead of spoiling the whole report.
function M.has_bidi_control(s)
	return s:find("\226\128[\170-\174]") ~= nil or s:find("\226\129[\166-\169]") ~= nil;
end

-- Exponential back-off: 1, 2, 4, ... seconds, capped.
function M.backoff(failures, cap)
	cap = cap or 30;
	if failures <= 0 then return 0; end
	local delay = 1;
	for _ = 2, failures do
		delay = delay * 2;
		if delay >= cap then return cap; end
	end
	return delay;
end

-- Splits a list into chunks of at most `size` items.
function M.chunks(list, size)
	local out = {};
	for i = 1, #list, size do
		local chunk = {};
		for j = i, math.min(i + size - 1, #list) do
			chunk[#chunk + 1] = list[j];
		end
		out[#out + 1] = chunk;
	end
	return out;
end

-- The base URL without trailing slashes, or nil, err when it is not http(s).
function M.base_url(url)
	if type(url) ~= "string" then return nil, "not a string"; end
	url = url:gsub("/+$", "");
	if not url:match("^https?://[^/]+") then
		return nil, "must start with http:// or https://";
	end
	return url;
end

return M;
