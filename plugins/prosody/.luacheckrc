-- luacheck configuration for the Prosody plugin: `luacheck plugins/prosody` from the checkout,
-- or `luacheck .` here. The Prosody globals are declared inline in mod_joingate.lua, so the
-- files are clean with or without this file.
std = "max"
max_line_length = 120
