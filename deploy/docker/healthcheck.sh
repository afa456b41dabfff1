#!/bin/bash
# The image's HEALTHCHECK: healthy when GET /readyz answers 200 (every model loaded and warmed up).
# bash's /dev/tcp instead of a `node -e fetch(...)` probe: a shell starts in about a millisecond,
# where node took 1.3-2.5 s inside a container whose CPU quota the server was using to the full.
# Reads $PORT as the server does. Exit 0 = healthy, 1 = not (refused, no answer in time, not 200).
exec 3<>"/dev/tcp/127.0.0.1/${PORT:-8080}" || exit 1
printf 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t "${HEALTHCHECK_READ_TIMEOUT_S:-2}" status <&3 || exit 1
[[ $status == "HTTP/1.1 200 "* ]]
