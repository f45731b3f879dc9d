-- Unit tests for plugins/prosody/joingate_util.lib.lua, run with Prosody's own interpreter
-- (lua5.4) by tests/prosody/test_lua.py. Prints one line per failure and exits non-zero.
local util = dofile(arg[1]);

local failures, count = 0, 0;
local function check(name, got, want)
	count = count + 1;
	if got ~= want then
		failures = failures + 1;
		print(("FAIL %s: got %s, want %s"):format(name, tostring(got), tostring(want)));
	end
end

-- room names: the canonical name is the node (Jitsi's client percent-encodes it already), with
-- "[tenant]room" written "tenant/room"; nothing is unescaped, so distinct nodes stay distinct.
check("plain", util.room_name("june4@conference.example"), "june4");
check("lower", util.room_name("June4@conference.example"), "june4");
check("full jid", util.room_name("june4@conference.example/nick"), "june4");
check("jitsi node", util.room_name("caf%c3%a9%20vigil@conference.example"), "caf%c3%a9%20vigil");
check("jitsi node hex lower", util.room_name("CAF%C3%A9@conference.example"), "caf%c3%a9");
check("upper-case letter node", util.room_name("caf%c3%89@conference.example"), "caf%c3%89");
check("space node", util.room_name("my%20meeting@conference.example"), "my%20meeting");
check("tenant", util.room_name("[acme]june4@conference.example"), "acme/june4");
check("tenant lower", util.room_name("[ACME]Room@conference.example"), "acme/room");
check("tenant jitsi node", util.room_name("[acme]caf%c3%a9%20vigil@c.example"), "acme/caf%c3%a9%20vigil");
check("xmpp escape kept", util.room_name("tenant\\2froom1@conference.example"), "tenant\\2froom1");
check("xmpp escape is not the tenant", util.room_name("tenant\\2froom1@c.example")
	~= util.room_name("[tenant]room1@c.example"), true);
check("escaped space kept", util.room_name("my\\20room@conference.example"), "my\\20room");
check("raw utf-8 kept", util.room_name("caf\195\169@conference.example"), "caf\195\169");
check("raw utf-8 is not the jitsi node", util.room_name("caf\195\169@c.example")
	~= util.room_name("caf%c3%a9@c.example"), true);
check("no node", util.room_name("conference.example"), nil);
check("not string", util.room_name(nil), nil);
check("brackets only", util.room_name("[]x@c.example"), "[]x");
check("bracket tenant only", util.room_name("[acme]@c.example"), "[acme]");

-- globs
local m = util.glob_matcher({ "focus@auth.*", "*@recorder.*", "__jicofo-health-check*" });
check("focus", m("focus@auth.meet.example"), true);
check("focus case", m("Focus@Auth.meet.example"), true);
check("focus other host", m("focus@meet.example"), false);
check("focus prefix", m("focusx@auth.meet.example"), false);
check("recorder any", m("anyone@recorder.meet.example"), true);
check("health", m("__jicofo-health-check-12ab"), true);
check("dot literal", util.glob_matcher({ "a.b" })("axb"), false);
check("percent literal", util.glob_matcher({ "a%d" })("a%d"), true);
check("nil subject", m(nil), false);
local _, rejected = util.glob_matcher({ "ok", 5, "" });
check("rejected", #rejected, 2);

-- domains (a visitor node's main deployment)
local main = util.domain_matcher({ "Meet.Example", "other.example" });
check("domain itself", main("meet.example"), true);
check("domain case", main("MEET.example"), true);
check("subdomain", main("guest.meet.example"), true);
check("deep subdomain", main("a.b.meet.example"), true);
check("suffix is not a subdomain", main("evilmeet.example"), false);
check("parent is not", main("example"), false);
check("second entry", main("hidden.other.example"), true);
check("unrelated", main("auth.evil.example"), false);
check("nil host", main(nil), false);
local _, bad_domains, kept = util.domain_matcher({ "OK.example", "*.example", "a@b", "", ".x", "x.", 3 });
check("rejected domains", #bad_domains, 6);
check("kept domains", #kept, 1);
check("kept lower-cased", kept[1], "ok.example");
check("empty list", util.domain_matcher({})("meet.example"), false);

-- addresses
check("v4", util.normalize_ip("192.0.2.1"), "192.0.2.1");
check("mapped", util.normalize_ip("::ffff:192.0.2.1"), "192.0.2.1");
check("mapped upper", util.normalize_ip("::FFFF:192.0.2.1"), "192.0.2.1");
check("v6", util.normalize_ip("2001:db8::1"), "2001:db8::1");
check("empty", util.normalize_ip(""), nil);

-- decisions: garbage never counts as allow
local d = util.parse_decision({ decision = "deny", country = "cn", restriction = 3, message = "No." });
check("deny", d.allow, false);
check("deny country", d.country, "CN");
check("deny message", util.refusal_text(d), "No.");
check("allow", util.parse_decision({ decision = "allow" }).allow, true);
check("not disputed", util.parse_decision({ decision = "allow" }).disputed, false);
local contested = util.parse_decision({ decision = "allow", country = "HK", rule = "disputed",
	witness_country = "CN" });
check("disputed", contested.disputed, true);
check("disputed country", contested.country, "HK");
check("maybe", util.parse_decision({ decision = "maybe" }), nil);
check("missing", util.parse_decision({}), nil);
check("not table", util.parse_decision("allow"), nil);
local null = setmetatable({}, { __tostring = function () return "null"; end });
local d2 = util.parse_decision({ decision = "deny", country = null, restriction = null, message = "" });
check("null country", d2.country, nil);
check("fallback text", util.refusal_text(d2), "Participants from your location cannot join this meeting.");
check("country text", util.refusal_text({ country = "CN" }),
	"Participants located in CN cannot join this meeting.");

-- batch
local b = util.parse_batch({ results = { { decision = "allow" }, { decision = "deny" } } }, 2);
check("batch 2", b and b[2].allow, false);
check("batch short", util.parse_batch({ results = { { decision = "allow" } } }, 2), nil);
check("batch long", util.parse_batch({ results = { { decision = "allow" }, { decision = "allow" } } }, 1), nil);
check("batch bad", util.parse_batch({ results = { { decision = "x" } } }, 1), nil);
local raw = { results = { { decision = "allow", country = "hk" }, { decision = "deny", country = "CN" } } };
check("batch results as they came", util.batch_results(raw, 2), raw.results);
check("batch results short", util.batch_results(raw, 3), nil);
check("batch results long", util.batch_results(raw, 1), nil);
check("batch results not objects", util.batch_results({ results = { "allow" } }, 1), nil);
check("batch results missing", util.batch_results({}, 0), nil);
local country, disputed = util.placement({ decision = "allow", country = "hk", rule = "disputed" });
check("placement country", country, "HK");
check("placement disputed", disputed, true);
country, disputed = util.placement({ decision = "allow", country = {}, rule = "default" });
check("placement no country", country, "");
check("placement undisputed", disputed, false);

-- JSON text written directly (the sweep's batch bodies)
check("json plain", util.json_string("june4"), '"june4"');
check("json quote", util.json_string('a"b'), '"a\\"b"');
check("json backslash", util.json_string("a\\b"), '"a\\\\b"');
check("json control", util.json_string("a\nb\0"), '"a\\u000ab\\u0000"');
check("json utf-8 kept", util.json_string("caf\195\169"), '"caf\195\169"');
check("check", util.check_json('"june4"', "192.0.2.1"), '{"room":"june4","ip":"192.0.2.1"}');
check("check odd ip", util.check_json('"june4"', 'x"'), '{"room":"june4","ip":"x\\""}');
check("batch body", util.batch_body({ "1", "2", "3" }, 2, 3, "sweep"), '{"purpose":"sweep","checks":[2,3]}');

-- enforcement
local e = util.parse_enforcement({ epoch = 1795576954712, rooms = { "*" }, restricted = { "June4" } });
check("epoch", e.epoch, 1795576954712);
check("rooms", e.rooms["*"], true);
check("restricted lower", e.restricted["june4"], true);
check("neg epoch", util.parse_enforcement({ epoch = -1, rooms = {}, restricted = {} }), nil);
check("frac epoch", util.parse_enforcement({ epoch = 1.5, rooms = {}, restricted = {} }), nil);
check("bad rooms", util.parse_enforcement({ epoch = 1, rooms = { 1 }, restricted = {} }), nil);
check("no restricted", util.parse_enforcement({ epoch = 1, rooms = {} }), nil);

-- session answers (null: the JSON decoder's null value, a table of its own)
local null = setmetatable({}, {});
local s = util.parse_session({ epoch = 1795576954712, denied = { "*", "June4" } }, null);
check("session epoch", s.epoch, 1795576954712);
check("session denied lower", s.denied["june4"], true);
check("session denied all", s.denied["*"], true);
check("session denied other", s.denied["vigil"], nil);
check("session none denied", next(util.parse_session({ epoch = 1, denied = {} }, null).denied), nil);
local per_join = util.parse_session({ epoch = 1, denied = null }, null);
check("session ask per join", per_join.epoch == 1 and per_join.denied == nil, true);
check("session missing denied", util.parse_session({ epoch = 1 }, null), nil);
check("session bad denied", util.parse_session({ epoch = 1, denied = { 5 } }, null), nil);
check("session denied string", util.parse_session({ epoch = 1, denied = "june4" }, null), nil);
check("session no epoch", util.parse_session({ denied = {} }, null), nil);
check("session frac epoch", util.parse_session({ epoch = 0.5, denied = {} }, null), nil);
check("session not object", util.parse_session("x", null), nil);

-- fail modes
local set = { june4 = true };
check("open", util.fallback_allows("open", set, "june4"), true);
check("closed", util.fallback_allows("closed", set, "picnic"), false);
check("restricted hit", util.fallback_allows("restricted", set, "june4"), false);
check("restricted miss", util.fallback_allows("restricted", set, "picnic"), true);
check("restricted all", util.fallback_allows("restricted", { ["*"] = true }, "picnic"), false);
check("restricted nil set", util.fallback_allows("restricted", nil, "picnic"), true);

-- bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE)
check("bidi override", util.has_bidi_control("june4\226\128\174x"), true);
check("bidi isolate", util.has_bidi_control("\226\129\166june4"), true);
check("no bidi", util.has_bidi_control("caf%c3%a9%20vigil"), false);
check("zwj is not bidi", util.has_bidi_control("a\226\128\141b"), false);

-- back-off, chunks, URLs
check("backoff 0", util.backoff(0), 0);
check("backoff 1", util.backoff(1), 1);
check("backoff 3", util.backoff(3), 4);
check("backoff cap", util.backoff(50), 30);
local chunks = util.chunks({ 1, 2, 3, 4, 5 }, 2);
check("chunks", #chunks, 3);
check("chunk last", chunks[3][1], 5);
check("no chunks", #util.chunks({}, 1000), 0);
check("url slash", util.base_url("http://127.0.0.1:8750/"), "http://127.0.0.1:8750");
check("url scheme", util.base_url("ftp://x"), nil);
check("url nil", util.base_url(nil), nil);

print(("%d checks, %d failures"):format(count, failures));
os.exit(failures == 0 and 0 or 1);
