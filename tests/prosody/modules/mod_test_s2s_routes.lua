-- mod_test_s2s_routes: lets test Prosodies on 127.0.0.1 reach each other over s2s without DNS,
-- as Jitsi's visitor nodes do with mod_s2sout_override. That module hooks s2sout-pre-connect,
-- which Prosody has only from 0.12.4 on; Debian 12's 0.12.3 resolves every new outgoing s2s
-- connection with net.resolvers.service's new(). So this module wraps that function: for a
-- domain named in test_s2s_routes it returns a resolver that goes straight to 127.0.0.1 at the
-- port given there (0.12 and 13 alike). A global module: one wrapper for every host.

-- luacheck: globals module

module:set_global();

local basic_resolver = require "net.resolvers.basic";
local service_resolver = require "net.resolvers.service";

local routes = module:get_option("test_s2s_routes", {});
local resolve_service = service_resolver.new;

service_resolver.new = function (hostname, service, ...)
	local port = routes[hostname];
	if port and service == "xmpp-server" then
		module:log("debug", "s2s to %s goes to port %d", hostname, port);
		return basic_resolver.new("127.0.0.1", port, "tcp", {});
	end
	return resolve_service(hostname, service, ...);
end

function module.unload()
	service_resolver.new = resolve_service;
end
