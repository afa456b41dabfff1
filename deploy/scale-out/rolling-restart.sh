#!/bin/sh
# Restarts the modelserve replicas of this machine one at a time, without losing a request:
# `systemctl restart` sends SIGTERM and waits for the drained exit; the next replica is only
# restarted once this one answers /readyz again. nginx (modelserve.nginx.conf) retries on the
# other replicas meanwhile.  Usage: rolling-restart.sh 8001 8002 [...]
set -eu
[ "$#" -gt 0 ] || { echo "usage: $0 PORT..." >&2; exit 2; }
for port in "$@"; do
  echo "restarting modelserve@$port"
  systemctl restart "modelserve@$port"
  tries=0
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz"; do
    tries=$((tries + 1))
    [ "$tries" -le 240 ] || { echo "modelserve@$port is not ready after 120 s; stopping here" >&2; exit 1; }
    sleep 0.5
  done
done
echo "all replicas restarted"
