#!/bin/bash
# The image's HEALTHCHECK: healthy when GET /readyz answers 200 (every model loaded and warmed up).
# bash's /dev/tcp instead of a `node -e fetch(...)` probe: a shell starts in about a millisecond,
# where node took 1.3-2.5 s inside a container whose CPU quota the server was using to the full.
# Reads $HOST and $PORT as the server does: a server told to listen on one address (-e HOST=<the
# container's IP>, a pod IP) does not answer on 127.0.0.1; one on every interface does on loopback.
# (/readyz needs no API key.) Exit 0 = healthy, 1 = not (refused, no answer in time, not 200).
address=${HOST:-127.0.0.1}
address=${address#[} address=${address%]}
case $address in
  0.0.0.0) address=127.0.0.1 ;;
  ::) address=::1 ;;
esac
exec 3<>"/dev/tcp/${address}/${PORT:-8080}" || exit 1
printf 'GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t "${HEALTHCHECK_READ_TIMEOUT_S:-2}" status <&3 || exit 1
[[ $status == "HTTP/1.1 200 "* ]]
