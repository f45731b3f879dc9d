-- luacheck configuration for the Prosody plugin (run: luacheck plugins/prosody)
std = "max"
max_line_length = 120
read_globals = {
	"prosody",
}
files["mod_joingate.lua"] = {
	-- module.unload is how Prosody asks a module to clean up
	globals = { "module" },
}
files["joingate_util.lib.lua"] = {
	read_globals = {},
}
