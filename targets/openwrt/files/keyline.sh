#!/bin/sh
# /usr/sbin/keyline. keyline is one JavaScript file, kept as a .js file in /usr/lib/keyline (no
# package.json there, so node loads it as CommonJS, as build.mjs intends); this runs it with
# the node found in PATH. exec: the signals procd or systemd send reach node itself.
exec node /usr/lib/keyline/keyline.js "$@"
