-- joingate_http: calls to the joingate service with a time limit of our own (net.http has none).
--
-- Loaded by mod_joingate with module:require "joingate_http"; returns new(base_url, token),
-- which gives the module its `request`, `call` and `complain` functions. An http:// service is
-- called over connections kept open between calls (joingate_client); an https:// one through
-- Prosody's net.http, as before. Never logs an address: the request body (which carries one)
-- is never part of a log line.

-- luacheck: globals module

local async = require "util.async";
local http = require "net.http";
local json = require "util.json";
local time_now = require "util.time".now;

local new_client = module:require "joingate_client";

-- net.http, for an https:// service: a new connection per call on Prosody 0.12.
local net_http = {};
function net_http.request(url, method, headers, body, callback)
	return http.request(url, { method = method; headers = headers; body = body; suppress_url = true },
		function (resp_body, code) return callback(resp_body, code); end);
end
function net_http.cancel(req) http.destroy_request(req); end

return function (base_url, token)
	local headers = {
		["Authorization"] = token and ("Bearer " .. token) or nil;
		["Content-Type"] = "application/json";
		["Accept"] = "application/json";
	};

	local client = base_url:match("^http://") and new_client(base_url);
	local transport = net_http;
	if client then
		transport = {
			request = function (url, method, hdrs, body, callback)
				return client.request(method, url:sub(#base_url + 1), hdrs, body, callback);
			end;
			cancel = client.cancel;
			time_left = client.time_left;
		};
	end

	local in_flight = {};

	-- One HTTP call, abandoned after `limit` seconds. `body` is a table to send as JSON, or the
	-- JSON text itself. `callback(decoded, err)` gets the decoded JSON body of a 200 answer, or
	-- nil, err; it is called exactly once.
	local function request(method, path, body, limit, callback)
		local finished, req, timer;
		local function finish(resp_body, code)
			if finished then return; end
			finished = true;
			if timer then timer:stop(); end
			if req then in_flight[req] = nil; end
			if code == "timeout" then
				return callback(nil, "no answer within " .. limit .. " s");
			elseif code == "aborted" then
				return callback(nil, "the call was cut: the module is being unloaded");
			elseif type(code) ~= "number" or code == 0 then
				return callback(nil, "connection failed: " .. tostring(resp_body));
			elseif code == 401 or code == 403 then
				return callback(nil, "HTTP status " .. code .. " (check joingate_token)");
			elseif code ~= 200 then
				return callback(nil, "HTTP status " .. code);
			end
			local decoded = type(resp_body) == "string" and json.decode(resp_body);
			if type(decoded) ~= "table" then
				return callback(nil, "answer is not JSON");
			end
			return callback(decoded);
		end
		-- net.http raises on some local problems (an https URL without TLS support, say); that
		-- must become a failed call, decided by the fail mode, not an error that drops the join.
		local ok, made = pcall(transport.request, base_url .. path, method, headers,
			type(body) == "table" and json.encode(body) or body, function (resp_body, code)
				finish(resp_body, code);
			end);
		if not ok then
			return finish(tostring(made), 0);
		end
		if not finished then
			req = made;
			if req then in_flight[req] = finish; end
			timer = module:add_timer(limit, function ()
				if finished then return; end
				-- Over kept connections the limit counts the time the service had the call
				-- (joingate_client), not a spell of Prosody's own backlog: wait on if need be.
				local left = transport.time_left and transport.time_left(req, limit);
				if left and left > 0.001 then return left; end
				local r = req;
				finish(nil, "timeout");
				if r then transport.cancel(r); end
			end);
		end
	end

	-- The same, waited for inside the current async runner: returns decoded, or nil, err.
	local function call(method, path, body, limit)
		local wait, done = async.waiter();
		local result, err;
		request(method, path, body, limit, function (decoded, e)
			result, err = decoded, e;
			done();
		end);
		wait();
		return result, err;
	end

	-- Complaints about the service are logged at most once a minute each, not once per join.
	local last_complaint = {};
	local function complain(key, err, fmt, ...)
		local now = time_now();
		if (last_complaint[key] or 0) + 60 <= now then
			last_complaint[key] = now;
			-- A refused token is a configuration error, not an outage.
			local level = err and err:match("^HTTP status 40[13]") and "error" or "warn";
			module:log(level, fmt, ...);
		end
	end

	-- Every call still waiting ends now, its callback told so (a cut request never answers, and
	-- the module's own timers are gone once it is unloaded).
	local function abort_all()
		local cut = {};
		for r, finish in pairs(in_flight) do cut[r] = finish; end
		for r, finish in pairs(cut) do
			finish(nil, "aborted");
			transport.cancel(r);
		end
		if client then client.close_all(); end
	end

	return { request = request; call = call; complain = complain; abort_all = abort_all };
end
