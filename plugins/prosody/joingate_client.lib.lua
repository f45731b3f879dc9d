-- joingate_client: HTTP/1.1 to the joingate service over connections kept open between calls.
--
-- Prosody 0.12's net.http opens a new TCP connection for every request; on loopback that
-- connection is about half of a join check's round trip. This client, for an http:// base URL,
-- keeps up to MAX_IDLE connections open between calls (keep-alive) and sends one call at a
-- time on each, on Prosody's own network layer (net.connect) and HTTP parser
-- (net.http.parser), on 0.12 and 13 alike. Time limits are the caller's (joingate_http); this
-- client tells it how long a call has really been the service's to answer (time_left).
--
-- At most MAX_OPEN connections are open at once; further calls wait for one, in order. A
-- storm of joins into restricted meetings would otherwise open a connection per join, each
-- waiting for Prosody's busy loop to write its request, and the service, holding thousands of
-- connections without a request, would close them as a flood.
--
-- A connection kept open can die unseen: the service closes it (restart, its keep-alive
-- timeout) just as a call is written. A call on a reused connection that ends before a byte of
-- its answer came is therefore sent once more, on a new connection; nothing else is retried.
-- Nothing here logs: the request body carries an address.

local connect = require "net.connect".connect;
local basic_resolver = require "net.resolvers.basic";
local new_parser = require "net.http.parser".new;
local url_parse = require "socket.url".parse;
local time_now = require "util.time".now;

local MAX_IDLE = 16;   -- connections kept open while unused; more are closed after their call
local MAX_OPEN = 32;   -- connections open at once: opening, in use or idle
local IDLE_LIMIT = 20; -- seconds a connection may sit unused and still be reused (the
	-- service's keep-alive timeout, like nginx's, is 75 s by default); older ones are closed

return function (base_url)
	local parts = url_parse(base_url);
	local host, port = parts.host, tonumber(parts.port) or 80;
	local prefix = parts.path or ""; -- base_url never ends in "/"
	local host_header = host:find(":", 1, true) and ("[" .. host .. "]") or host;
	if parts.port then host_header = host_header .. ":" .. parts.port; end

	local idle = {};  -- connections ready for a call, the most recently used last
	local open = {};  -- every connection of ours: net.server interface -> its state
	local opened = 0; -- connections counted against MAX_OPEN
	local waiting = {}; -- calls waiting for a connection, the oldest first
	local last_answer = 0; -- when the service last answered a call
	local listener = {};

	local dispatch, send; -- defined below

	-- The oldest call still waiting for a connection, or nil.
	local function next_waiting()
		while #waiting > 0 do
			local call = table.remove(waiting, 1);
			call.waiting = false;
			if not call.cancelled then return call; end
		end
		return nil;
	end

	local function forget(st)
		st.closed = true;
		for i = #idle, 1, -1 do
			if idle[i] == st then table.remove(idle, i); end
		end
		if st.conn then open[st.conn] = nil; end
		if st.counted then
			st.counted = false;
			opened = opened - 1;
			local call = next_waiting();
			if call then dispatch(call, true); end
		end
	end

	-- The call on `st` ended without an answer (err: why).
	local function lost(st, err)
		local call = st.call;
		if not call then return; end
		st.call, call.st = nil, nil;
		if st.reused and not call.answered_bytes and not call.resent then
			call.resent = true;
			return dispatch(call, true);
		end
		return call.callback(tostring(err or "connection closed"), 0);
	end

	-- Closes the connection; a call still on it is lost.
	local function close(st, why)
		forget(st);
		local conn = st.conn;
		st.conn = nil;
		if conn then conn:close(); end
		return lost(st, why);
	end

	local function release(st)
		if st.closed then return; end
		local call = next_waiting();
		if call then
			st.reused = true;
			return send(st, call);
		end
		if #idle >= MAX_IDLE then return close(st); end
		st.idle_since = time_now();
		idle[#idle + 1] = st;
	end

	local function on_answer(st, call, response)
		if response.partial then return; end -- a head whose body is still to come
		if st.call ~= call then return close(st, "answer out of step"); end -- a second answer
		st.call, call.st = nil, nil;
		last_answer = time_now();
		local connection = (response.headers.connection or ""):lower();
		-- Reusable when the body's end was known without the connection's end, and neither
		-- side said close.
		if response.httpversion == "1.1" and not connection:find("close", 1, true)
			and (response.body_length or response.chunked) then
			release(st);
		else
			close(st);
		end
		return call.callback(response.body, response.code);
	end

	function send(st, call)
		st.call, call.st = call, st;
		call.answered_bytes, call.sent_at = false, nil;
		st.parser = new_parser(function (response)
			return on_answer(st, call, response);
		end, function (err)
			return close(st, "bad answer: " .. tostring(err));
		end, "client", function () return call; end);
		st.conn:write(call.message);
	end

	function listener.onattach(conn, st)
		st.conn = conn;
		open[conn] = st;
	end

	function listener.onconnect(conn)
		local st = open[conn];
		if not st then return conn:close(); end
		if st.call then return send(st, st.call); end
		return close(st); -- its call ended (time limit) while it was connecting
	end

	-- The request has left (its bytes are with the kernel): from now on the service is
	-- answering it.
	function listener.ondrain(conn)
		local st = open[conn];
		if st and st.call and not st.call.sent_at then st.call.sent_at = time_now(); end
	end

	function listener.onincoming(conn, data)
		local st = open[conn];
		if not st then return conn:close(); end
		if not st.call then return close(st); end -- bytes nobody asked for: out of step
		st.call.answered_bytes = true;
		st.parser:feed(data);
	end

	function listener.ondisconnect(conn, err)
		local st = open[conn];
		if not st then return; end
		forget(st);
		st.conn = nil;
		if st.call then
			st.parser:feed(nil); -- an answer whose end is the connection's end completes here
		end
		return lost(st, err);
	end

	function listener.onfail(st, err)
		forget(st);
		return lost(st, "connection failed: " .. tostring(err));
	end

	-- An idle connection that is still good to use, or nil.
	local function take_idle()
		local now = time_now();
		while #idle > 0 do
			local st = table.remove(idle);
			if not st.closed and now - st.idle_since < IDLE_LIMIT then return st; end
			close(st);
		end
		return nil;
	end

	function dispatch(call, fresh)
		local st = not fresh and take_idle();
		if st then
			st.reused = true;
			return send(st, call);
		end
		if opened >= MAX_OPEN then
			-- A call sent once more goes first: it was the oldest.
			call.waiting = true;
			table.insert(waiting, fresh and 1 or #waiting + 1, call);
			return;
		end
		opened = opened + 1;
		st = { call = call; reused = false; counted = true };
		call.st = st;
		connect(basic_resolver.new(host, port, "tcp", {}), listener, {}, st);
	end

	-- Sends one call; `callback(body, code)` gets the answer's body and status, or
	-- (why, 0) when there is none. Returns a handle for cancel().
	local function request(method, path, headers, body, callback)
		local lines = { method .. " " .. prefix .. path .. " HTTP/1.1", "Host: " .. host_header };
		for name, value in pairs(headers) do lines[#lines + 1] = name .. ": " .. value; end
		lines[#lines + 1] = "Content-Length: " .. (body and #body or 0);
		local call = {
			method = method;
			message = table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "");
			callback = callback;
		};
		dispatch(call, false);
		return call;
	end

	-- The call will not be answered to anyone: its connection, if it has one, is closed (its
	-- answer could still come and would be taken for the next call's).
	local function cancel(call)
		call.callback = function () end;
		call.cancelled = true; -- left in `waiting`, skipped there
		local st = call.st;
		if st then
			st.call, call.st = nil, nil;
			close(st);
		end
	end

	-- Seconds the call may still wait, asked when its time limit has passed by the clock.
	-- Prosody runs timers only when no connection has anything to read, so after a busy spell
	-- a timer fires late, and its call may have left only a moment ago, or still wait for a
	-- connection while others are answered one after another. The limit counts the time the
	-- service had the call; a call not yet sent fails once the service has answered nothing
	-- for as long.
	local function time_left(call, limit)
		return (call.sent_at or last_answer) + limit - time_now();
	end

	-- Every connection closed (the module is unloaded); calls still open must be cancelled first.
	local function close_all()
		local all = {};
		for _, st in pairs(open) do all[#all + 1] = st; end
		for _, st in ipairs(all) do close(st); end
		idle, waiting = {}, {};
	end

	return { request = request; cancel = cancel; time_left = time_left; close_all = close_all };
end
