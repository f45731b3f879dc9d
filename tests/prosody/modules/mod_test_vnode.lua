-- mod_test_vnode: the visitor node's half, as Jitsi's mod_fmuc behaves towards the gate (loaded
-- on the visitor node's conference component). Occupants whose JID is on a host of this
-- Prosody are visitors (role "visitor"); the others are main participants mirrored over s2s.
-- Whenever someone leaves and no main participant is left, the meeting has ended: the room is
-- destroyed for every visitor with "Conference ended." (which is why the gate on a visitor
-- node must never remove a main participant).

-- luacheck: globals module, read globals prosody

local jid_host = require "util.jid".host;

-- Local occupants join as visitors (role "visitor": they see the meeting, cannot speak in it).
module:hook("muc-occupant-pre-join", function (event)
	if prosody.hosts[jid_host(event.occupant.bare_jid)] then
		event.occupant.role = "visitor";
	end
end, 3);

local function main_participants(room)
	local count = 0;
	for _, occupant in room:each_occupant() do
		if not prosody.hosts[jid_host(occupant.bare_jid)] then count = count + 1; end
	end
	return count;
end

module:hook("muc-occupant-left", function (event)
	local room = event.room;
	if room.test_vnode_ending then return; end
	if main_participants(room) == 0 then
		room.test_vnode_ending = true;
		module:log("info", "No main participant left in %s: destroying it", room.jid);
		room:destroy(nil, "Conference ended.");
	end
end);
