-- joingate_meetings: which meeting a room belongs to, who is exempt, and where a session is.
--
-- The module is loaded on every MUC component that holds a meeting's rooms: the conference
-- component, and (with joingate_main_muc naming the conference component) Jitsi's breakout
-- and lobby components. A breakout room and a lobby room count as their main meeting: they are
-- gated, swept and counted under its name.

-- luacheck: globals module, read globals prosody

local jid_split = require "util.jid".split;
local jid_bare = require "util.jid".bare;
local ip_util = require "util.ip";
local new_cache = require "util.cache".new;

local util = module:require "joingate_util";

return function (options)
	local main_muc_host = options.main_muc; -- nil: this component holds the main rooms

	-- Jitsi's own service accounts: the component's admins (Jicofo's focus) always, plus the
	-- configured patterns; a JID counts only when its host is a host of this Prosody, so
	-- focus@auth.evil.example arriving over s2s is an ordinary participant.
	local admins = module:get_option_inherited_set("admins", {});
	local matches_glob = options.exempt_jid_matcher;
	local is_exempt_room = options.exempt_room_matcher;

	local function is_exempt_jid(jid)
		local bare = jid_bare(jid);
		if not bare then return false; end
		local _, host = jid_split(bare);
		if not (host and prosody.hosts[host]) then return false; end
		return admins:contains(bare) or matches_glob(bare);
	end

	-- Jitsi's visitor nodes: the main deployment mirrors its participants into the node's
	-- rooms over s2s, each from their own real JID (mod_visitors -> mod_fmuc); its gate judged
	-- them, and here they have no client session. An occupant is one of them when its JID's
	-- host is not a host of this Prosody (so it can only have arrived over s2s, where Prosody
	-- authenticated the sending domain) and is a main deployment's domain or a subdomain of one.
	-- Visitors are local client sessions and are judged here like anyone else.
	local is_main_domain = options.main_domain_matcher;

	local function is_main_participant(jid)
		if not options.visitor_node then return false; end -- not a visitor node: one branch per join
		local _, host = jid_split(jid);
		return host ~= nil and not prosody.hosts[host] and is_main_domain(host);
	end

	local function main_muc()
		local host = main_muc_host and prosody.hosts[main_muc_host];
		return host and host.modules.muc or nil;
	end

	-- Breakout room JID -> main room JID, learnt from the main rooms' _data.breakout_rooms
	-- (the only link Jitsi's mod_muc_breakout_rooms keeps that survives its own reloads).
	-- Bounded: breakout rooms come and go all day; a forgotten one is looked up again.
	local breakout_parent = new_cache(10000);

	local function find_breakout_parent(muc, room_jid)
		local known = breakout_parent:get(room_jid);
		if known then
			local main_room = muc.get_room_from_jid(known);
			if main_room and main_room._data.breakout_rooms and main_room._data.breakout_rooms[room_jid] then
				return main_room;
			end
			breakout_parent:set(room_jid, nil);
		end
		-- Rooms in memory first; then those Prosody swapped out to storage (its room cache is
		-- bounded), which each_room() brings back. Only a room seen for the first time since
		-- this module loaded, whose main room is out of memory, or an unlinked one gets that far.
		for main_room in muc.each_room() do
			local linked = main_room._data.breakout_rooms;
			if linked and linked[room_jid] then
				breakout_parent:set(room_jid, main_room.jid);
				return main_room;
			end
		end
		return nil;
	end

	-- The main room a lobby or breakout room belongs to, and "lobby" | "breakout"; nil when
	-- nothing links it to a live meeting.
	local function parent_of(room)
		local muc = main_muc();
		if not muc then return nil; end
		-- Jitsi's lobby rooms carry the main room's JID; they share its node.
		local main_jid = room.main_room_jid;
		if not main_jid then
			local node = jid_split(room.jid);
			local candidate = node and muc.get_room_from_jid(node .. "@" .. main_muc_host);
			if candidate and candidate._data.lobbyroom == room.jid then
				main_jid = candidate.jid;
			end
		end
		if main_jid then
			local main_room = muc.get_room_from_jid(main_jid);
			if main_room then return main_room, "lobby"; end
			return nil;
		end
		local main_room = find_breakout_parent(muc, room.jid);
		if main_room then return main_room, "breakout"; end
		return nil;
	end

	-- The meeting a room belongs to: its name for the service, and its kind ("main",
	-- "breakout" or "lobby"). nil, why for a room that belongs to no meeting (an unlinked room
	-- on a breakout or lobby component, or the component itself).
	local function meeting_of(room)
		if not main_muc_host then
			local name = util.room_name(room.jid);
			if not name then return nil, "not a room"; end
			return name, "main";
		end
		local main_room, kind = parent_of(room);
		if not main_room then return nil, "no meeting links this room"; end
		local name = util.room_name(main_room.jid);
		if not name then return nil, "not a room"; end
		return name, kind;
	end

	-- Trusted proxies, as Prosody's mod_http reads them (addresses or CIDR ranges).
	local trusted_proxies = {};
	for entry in module:get_option_set("trusted_proxies", { "127.0.0.1", "::1" }) do
		local ip, bits = ip_util.parse_cidr(entry);
		if ip then trusted_proxies[#trusted_proxies + 1] = { ip = ip; bits = bits }; end
	end

	local function is_trusted_proxy(parsed)
		for _, net in ipairs(trusted_proxies) do
			if ip_util.match(parsed, net.ip, net.bits) then return true; end
		end
		return false;
	end

	local LOOPBACK_V4 = ip_util.new_ip("127.0.0.0");
	local LINK_LOCAL_V4 = ip_util.new_ip("169.254.0.0");
	local LOOPBACK_V6 = ip_util.new_ip("::1");
	local LINK_LOCAL_V6 = ip_util.new_ip("fe80::");

	local function is_local_address(parsed)
		return ip_util.match(parsed, LOOPBACK_V4, 8) or ip_util.match(parsed, LINK_LOCAL_V4, 16)
			or ip_util.match(parsed, LOOPBACK_V6, 128) or ip_util.match(parsed, LINK_LOCAL_V6, 10);
	end

	local warned_header = false;

	-- Sessions whose address was found usable, with session.ip as it was then: a session is
	-- asked about at each join and each sweep, and parsing and matching an address makes
	-- tables and strings every time (a sweep over 10,000 occupants: ~2.7 MB of garbage). Weak
	-- keys: an ended session is forgotten.
	local usable = setmetatable({}, { __mode = "k" });

	-- The participant's own address, or nil, why. Only local client sessions (TCP, BOSH,
	-- websocket) carry one; for BOSH and websocket, Prosody already replaced the proxy's
	-- address by X-Forwarded-For when the proxy is trusted. What is left there as a loopback,
	-- link-local or trusted-proxy address is the proxy itself: the header was not passed, and
	-- judging the proxy's location would place everybody in one country.
	local function client_address(session)
		if not (session and session.type == "c2s") then
			return nil, "not a local client session";
		end
		local raw = session.ip;
		if raw ~= nil and usable[session] == raw then return util.normalize_ip(raw); end
		local ip = util.normalize_ip(raw);
		local parsed = ip and ip_util.new_ip(ip);
		if not parsed then return nil, "no client address"; end
		local over_http = session.bosh_version ~= nil or session.websocket_request ~= nil;
		if is_trusted_proxy(parsed) or (over_http and is_local_address(parsed)) then
			if not warned_header then
				warned_header = true;
				module:log("error", "A participant arrived with a web proxy's address: the proxy in front"
					.. " of Prosody does not pass X-Forwarded-For (or Prosody's trusted_proxies does not"
					.. " list it). Such participants are unlocated until the header is set; see"
					.. " mod_joingate's README, 'The client address, and proxies'.");
			end
			return nil, "the proxy passed no X-Forwarded-For";
		end
		usable[session] = raw;
		return ip;
	end

	return {
		meeting_of = meeting_of;
		is_exempt_jid = is_exempt_jid;
		is_main_participant = is_main_participant;
		is_exempt_room = is_exempt_room;
		client_address = client_address;
	};
end
