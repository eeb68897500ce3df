#!/usr/bin/env bash
# Start a throwaway ClickHouse server for tests, as a plain process on loopback.
#   tests/clickhouse/start.sh DIR HTTP_PORT TCP_PORT
# Writes DIR/conf/{config,users}.xml from the templates beside this script, keeps
# data and logs under DIR, writes DIR/clickhouse.pid, and returns once /ping answers.
set -euo pipefail
DIR=${1:?usage: start.sh DIR HTTP_PORT TCP_PORT}; HTTP=${2:?http port}; TCP=${3:?tcp port}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=/usr/sbin/clickhouse-server
[ -x "$BIN" ] || BIN=$(command -v clickhouse-server || true)
[ -n "$BIN" ] || { echo "clickhouse-server is not installed (apt-get install clickhouse-server)" >&2; exit 1; }
mkdir -p "$DIR/conf" "$DIR/log" "$DIR/data"
for f in config.xml users.xml; do
  sed -e "s#@DIR@#$DIR#g" -e "s#@HTTP_PORT@#$HTTP#g" -e "s#@TCP_PORT@#$TCP#g" "$HERE/$f" > "$DIR/conf/$f"
done
nohup "$BIN" --config-file="$DIR/conf/config.xml" >"$DIR/log/stdout.log" 2>&1 &
PID=$!
echo "$PID" > "$DIR/clickhouse.pid"
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$HTTP/ping" >/dev/null 2>&1; then exit 0; fi
  if ! kill -0 "$PID" 2>/dev/null; then cat "$DIR/log/"*.log >&2 || true; exit 1; fi
  sleep 0.1
done
echo "clickhouse did not answer /ping within 30 s" >&2
kill "$PID" || true
exit 1
