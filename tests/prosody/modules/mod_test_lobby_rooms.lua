-- Test stand-in for Jitsi Meet's mod_muc_lobby_rooms, written for joingate's tests: it gives a
-- members-only room a lobby the way Jitsi's module does, so that the tests exercise mod_joingate
-- against the same room data.
--
-- Loaded on the client VirtualHost with `main_muc` and `lobby_muc` (as Jitsi's is):
--   * a room configured members-only (muc#roomconfig_membersonly, by anyone but focus) gets a
--     persistent lobby room NODE@lobby.HOST whose `main_room_jid` field names the main room;
--     the main room records it as _data.lobbyroom and is saved
--   * a non-member joining the main room is refused registration-required with a
--     <lobbyroom xmlns="http://jitsi.org/jitmeet"/> naming the lobby, before Prosody's own
--     members-only check (priority -4 against its -5)
--   * affiliations in a lobby room are the main room's, so moderators are owners there
--   * admitting someone is Prosody's own members-only invite (the invitee becomes a member),
--     as Jitsi's web client does it
--   * turning members-only off, or destroying the main room, destroys the lobby

-- luacheck: globals module, read globals prosody

local jid_node = require "util.jid".node;
local st = require "util.stanza";

local when_muc = module:require "test_muc_hosts";

local main_host = module:get_option_string("main_muc");
local lobby_host = module:get_option_string("lobby_muc", "lobby." .. module.host);
local JITSI_NS = "http://jitsi.org/jitmeet";

local main_muc, lobby_muc;

local function attach_lobby(room)
	local lobby_jid = jid_node(room.jid) .. "@" .. lobby_host;
	if lobby_muc.get_room_from_jid(lobby_jid) then return; end
	local lobby = lobby_muc.create_room(lobby_jid);
	lobby:set_persistent(true);
	lobby.main_room_jid = room.jid;
	room._data.lobbyroom = lobby.jid;
	room:save(true);
	module:log("info", "Lobby %s for %s", lobby.jid, room.jid);
end

local function destroy_lobby(room, reason)
	local lobby = room._data.lobbyroom and lobby_muc and lobby_muc.get_room_from_jid(room._data.lobbyroom);
	if lobby then
		lobby:set_persistent(false);
		lobby:destroy(nil, reason or "Lobby room closed.");
	end
	room._data.lobbyroom = nil;
end

when_muc(lobby_host, function (muc)
	lobby_muc = muc;
	muc.room_mt.get_affiliation = function (room, jid)
		local main_room = room.main_room_jid and main_muc and main_muc.get_room_from_jid(room.main_room_jid);
		return main_room and main_room:get_affiliation(jid) or "none";
	end;
end);

when_muc(main_host, function (muc, host_module)
	main_muc = muc;
	host_module:hook("muc-config-submitted", function (event)
		local room = event.room;
		if not lobby_muc or jid_node(event.actor) == "focus" then return; end
		if event.fields["muc#roomconfig_membersonly"] then
			attach_lobby(room);
		elseif room._data.lobbyroom then
			destroy_lobby(room);
			room:save(true);
		end
	end);
	host_module:hook("muc-occupant-pre-join", function (event)
		local room, stanza = event.room, event.stanza;
		if not (room:get_members_only() and room._data.lobbyroom) then return; end
		local affiliation = room:get_affiliation(stanza.attr.from);
		if affiliation and affiliation ~= "none" then return; end
		local reply = st.error_reply(stanza, "auth", "registration-required", nil, room.jid);
		reply.tags[1].attr.code = "407";
		reply:tag("lobbyroom", { xmlns = JITSI_NS }):text(room._data.lobbyroom):up();
		event.origin.send(reply);
		return true;
	end, -4);
	host_module:hook("muc-room-destroyed", function (event)
		if event.room._data.lobbyroom then destroy_lobby(event.room, event.reason); end
	end, 1);
end);
