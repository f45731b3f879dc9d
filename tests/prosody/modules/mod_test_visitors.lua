-- mod_test_visitors: the main deployment's half of a visitor node, as Jitsi's mod_visitors does
-- it (loaded here on the conference component). Every occupant of a main room is mirrored into
-- the room of the same name on the visitor node's MUC (test_visitor_muc) over s2s: their
-- presence is sent from their own real JID to ROOM@VNODE_MUC/NICK with a MUC join element, and
-- an unavailable presence follows when they leave or are removed. So the visitor node sees the
-- main participants as remote occupants with no client session of its own.

-- luacheck: globals module

local st = require "util.stanza";
local jid_split = require "util.jid".split;
local jid_join = require "util.jid".join;

local vnode_muc = assert(module:get_option_string("test_visitor_muc"), "test_visitor_muc is required");
local admins = module:get_option_inherited_set("admins", {});

local MUC_NS = "http://jabber.org/protocol/muc";

local function mirror_jid(room, occupant)
	local room_node = jid_split(room.jid);
	local _, _, nick = jid_split(occupant.nick);
	return jid_join(room_node, vnode_muc, nick);
end

module:hook("muc-occupant-joined", function (event)
	local room, occupant = event.room, event.occupant;
	if admins:contains(occupant.bare_jid) then return; end
	local presence = st.clone(occupant:get_presence());
	presence.attr.from = occupant.jid;
	presence.attr.to = mirror_jid(room, occupant);
	presence:tag("x", { xmlns = MUC_NS }):up();
	module:log("debug", "Mirroring %s to %s", occupant.jid, presence.attr.to);
	module:send(presence);
end);

module:hook("muc-occupant-left", function (event)
	local room, occupant = event.room, event.occupant;
	if admins:contains(occupant.bare_jid) then return; end
	module:send(st.presence({ from = occupant.jid; to = mirror_jid(room, occupant); type = "unavailable" }));
end);
