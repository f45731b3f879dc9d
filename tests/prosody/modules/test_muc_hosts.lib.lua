-- For the test stand-ins of Jitsi's room modules: calls back with a MUC component's mod_muc and
-- a module context on that component, once both exist. The stand-ins are loaded on the client
-- VirtualHost, which Prosody starts before the components it names.

-- luacheck: globals module, read globals prosody

return function (host, callback)
	local function with_muc()
		local muc = prosody.hosts[host].modules.muc;
		if muc then
			callback(muc, module:context(host));
			return;
		end
		prosody.hosts[host].events.add_handler("module-loaded", function (event)
			if event.module == "muc" then
				callback(prosody.hosts[host].modules.muc, module:context(host));
			end
		end);
	end
	if prosody.hosts[host] then
		with_muc();
	else
		module:hook_global("host-activated", function (activated)
			if activated == host then with_muc(); end
		end);
	end
end
