-- Test stand-in for Jitsi Meet's mod_muc_breakout_rooms, written for joingate's tests: it links
-- breakout rooms to their main room the way Jitsi's module does, so that the tests exercise
-- mod_joingate against the same room data.
--
-- Loaded on the client VirtualHost with `main_muc` and `breakout_rooms_muc` (as Jitsi's is):
--   * a moderator of a main room asks the breakout component for a room:
--       <message to="breakout.HOST"><breakout_rooms type="add" room="MAIN ROOM JID" subject="…"/>
--     (Jitsi takes the main room from the session's ?room= URL; the tests name it instead)
--   * the new room is <uuid>@breakout.HOST, recorded only as
--     main_room._data.breakout_rooms[jid] = subject; the main room is made persistent and saved
--   * every occupant of the main room and of its breakout rooms is sent the list of breakout
--     rooms (a JSON <json-message/> from the breakout component), on each change and each join
--   * a breakout room no main room links is destroyed as it is created
--   * affiliations in a breakout room are the main room's
--   * "remove" destroys one breakout room; a destroyed main room takes its breakout rooms along

-- luacheck: globals module, read globals prosody

local jid_node = require "util.jid".node;
local json = require "util.json";
local st = require "util.stanza";
local uuid = require "util.uuid".generate;

local when_muc = module:require "test_muc_hosts";

local main_host = module:get_option_string("main_muc");
local breakout_host = module:get_option_string("breakout_rooms_muc", "breakout." .. module.host);
local JSON_NS = "http://jitsi.org/jitmeet";

local main_muc, breakout_muc;
local main_of = {}; -- breakout room JID -> main room JID (this module's own memory, as Jitsi keeps)

local function main_room_of(room_jid)
	if not main_muc then return nil; end
	local main_jid = main_of[room_jid];
	return main_jid and main_muc.get_room_from_jid(main_jid) or nil;
end

local function is_focus(real_jid)
	return jid_node(real_jid) == "focus";
end

local function announce(main_room)
	local rooms = {};
	for jid, subject in pairs(main_room._data.breakout_rooms or {}) do
		rooms[#rooms + 1] = { jid = jid; name = subject };
	end
	local text = json.encode({ type = "breakout_rooms"; event = "update"; main = main_room.jid; rooms = rooms });
	local function send_to(room)
		if not room then return; end
		for _, occupant in room:each_occupant() do
			if not is_focus(occupant.jid) then
				module:send(st.message({ from = breakout_host; to = occupant.jid })
					:tag("json-message", { xmlns = JSON_NS }):text(text):up());
			end
		end
	end
	send_to(main_room);
	for jid in pairs(main_room._data.breakout_rooms or {}) do
		send_to(breakout_muc.get_room_from_jid(jid));
	end
end

local function add_room(main_room, subject)
	local jid = uuid() .. "@" .. breakout_host;
	main_room._data.breakout_rooms = main_room._data.breakout_rooms or {};
	main_room._data.breakout_rooms[jid] = subject or "";
	main_room:set_persistent(true);
	main_room:save(true);
	main_of[jid] = main_room.jid;
	module:log("info", "Breakout room %s of %s", jid, main_room.jid);
	announce(main_room);
end

local function remove_room(main_room, jid)
	local room = breakout_muc.get_room_from_jid(jid);
	if room then room:destroy(main_room.jid, "Breakout room removed."); end
	if main_room._data.breakout_rooms then main_room._data.breakout_rooms[jid] = nil; end
	main_of[jid] = nil;
	main_room:save(true);
	announce(main_room);
end

local function on_request(event)
	local stanza = event.stanza;
	if stanza.attr.type == "error" then return; end
	local request = stanza:get_child("breakout_rooms");
	if not (request and main_muc and breakout_muc) then return; end
	local main_room = main_muc.get_room_from_jid(request.attr.room or "");
	local occupant = main_room and main_room:get_occupant_by_real_jid(stanza.attr.from);
	if not (occupant and occupant.role == "moderator") then
		module:log("warn", "Breakout request from %s refused: not a moderator of %s", stanza.attr.from,
			tostring(request.attr.room));
		return true;
	end
	if request.attr.type == "add" then
		add_room(main_room, request.attr.subject);
	elseif request.attr.type == "remove" and main_room._data.breakout_rooms
		and main_room._data.breakout_rooms[request.attr.breakout] then
		remove_room(main_room, request.attr.breakout);
	end
	return true;
end

local function on_occupant_joined(event)
	local room = event.room;
	local main_room = room.jid:match("@(.+)$") == main_host and room or main_room_of(room.jid);
	if main_room and main_room._data.breakout_rooms and not is_focus(event.occupant.jid) then
		announce(main_room);
	end
end

when_muc(breakout_host, function (muc, host_module)
	breakout_muc = muc;
	host_module:hook("message/host", on_request);
	host_module:hook("muc-room-pre-create", function (event)
		local room = event.room;
		local main_room = main_room_of(room.jid);
		local subject = main_room and main_room._data.breakout_rooms and main_room._data.breakout_rooms[room.jid];
		if not subject then
			module:log("debug", "No main room links %s: not created", room.jid);
			room:destroy(nil, "Breakout room is invalid.");
			return true;
		end
		room:set_subject(room.jid, subject);
	end);
	host_module:hook("muc-occupant-joined", on_occupant_joined);
	muc.room_mt.get_affiliation = function (room, jid)
		local main_room = main_room_of(room.jid);
		return main_room and main_room:get_affiliation(jid) or "none";
	end;
end);

when_muc(main_host, function (muc, host_module)
	main_muc = muc;
	host_module:hook("muc-occupant-joined", on_occupant_joined);
	host_module:hook("muc-room-destroyed", function (event)
		for jid in pairs(event.room._data.breakout_rooms or {}) do
			local room = breakout_muc and breakout_muc.get_room_from_jid(jid);
			if room then room:destroy(nil, event.reason or "The meeting ended."); end
			main_of[jid] = nil;
		end
	end, 1);
end);
