#!/usr/bin/env bash
# x402scope's whole test suite, from a fresh Debian machine with a Rust toolchain,
# npm and apt. Idempotent: a second run reuses everything already installed.
#
#   tests/run.sh                 # everything: setup, fmt, clippy, all tests
#   tests/run.sh -- FILTER       # setup, then only `cargo test --workspace FILTER`
#   WITH_SOLANA_VALIDATOR=1 tests/run.sh   # also the Solana validator tests
#                                (crates/solana-validator-tests: about an hour cold)
#
# 1. installs what tests need (Debian's clickhouse-server; the pinned npm test
#    environment in tests/env: anvil, solc, the reference x402 packages);
# 2. starts one shared ClickHouse server on free loopback ports (tests make a fresh
#    database each) and stops it on exit, whatever happens;
# 3. runs cargo fmt --check, cargo clippy -D warnings, and cargo test; then the
#    store's ClickHouse tests again on ClickHouse 26.x (chDB, from PyPI chdb-core),
#    so that the SQL is proven on both the old and a current version.
# Per-test chains (anvil) and x402 servers are started by the tests themselves.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/x402scope/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
ONLY_TESTS=0
if [ "${1:-}" = "--" ]; then ONLY_TESTS=1; shift; fi

T0=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "system packages"
APT_PKGS=(clickhouse-server clickhouse-client curl chromium chromium-driver libclang-dev)
MISSING=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || MISSING+=("$p"); done
if [ ${#MISSING[@]} -gt 0 ]; then
  echo "installing: ${MISSING[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
else
  echo "already installed: ${APT_PKGS[*]}"
fi

step "npm test environment (tests/env)"
LOCK_SUM=$(sha256sum tests/env/package-lock.json | cut -d' ' -f1)
STAMP=tests/env/node_modules/.x402scope-lock-sha256
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$LOCK_SUM" ]; then
  echo "up to date"
else
  (cd tests/env && npm ci --no-audit --no-fund --loglevel=error)
  echo "$LOCK_SUM" > "$STAMP"
fi

step "current ClickHouse for the compatibility run (PyPI chdb-core, in a venv)"
VENV=$HOME/.cache/x402scope/venv
CHDB_VERSION=26.9.0
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
if "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('chdb-core') != '$CHDB_VERSION')" 2>/dev/null; then
  echo "chdb-core $CHDB_VERSION already installed"
else
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps "chdb-core==$CHDB_VERSION"
fi

step "schemathesis (PyPI), for the API contract run"
SCHEMATHESIS_VERSION=4.32.5
if "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$SCHEMATHESIS_VERSION')" 2>/dev/null; then
  echo "schemathesis $SCHEMATHESIS_VERSION already installed"
else
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

step "shared ClickHouse server"
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
CH_DIR=$(mktemp -d -t x402scope-clickhouse.XXXXXX)
cleanup() {
  if [ -n "${SHIM_PID:-}" ]; then kill "$SHIM_PID" 2>/dev/null || true; fi
  if [ -f "$CH_DIR/clickhouse.pid" ]; then
    kill "$(cat "$CH_DIR/clickhouse.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$(cat "$CH_DIR/clickhouse.pid")" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$(cat "$CH_DIR/clickhouse.pid")" 2>/dev/null || true
  fi
  rm -rf "$CH_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
CH_HTTP=$(free_port); CH_TCP=$(free_port)
tests/clickhouse/start.sh "$CH_DIR" "$CH_HTTP" "$CH_TCP"
export X402SCOPE_TEST_CLICKHOUSE_URL="http://127.0.0.1:$CH_HTTP"
echo "ClickHouse $(curl -fsS "$X402SCOPE_TEST_CLICKHOUSE_URL/?query=SELECT%20version()") at $X402SCOPE_TEST_CLICKHOUSE_URL"

if [ "$ONLY_TESTS" = 0 ]; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy --workspace --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
fi

step "cargo test --workspace"
cargo test --workspace "$@"

step "the store's ClickHouse tests again, on ClickHouse 26.x (chDB)"
SHIM_PORT=$(free_port)
"$VENV/bin/python" tests/clickhouse/chdb_http.py "$CH_DIR/chdb" "$SHIM_PORT" > "$CH_DIR/chdb.log" 2>&1 &
SHIM_PID=$!
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$SHIM_PORT/ping" >/dev/null 2>&1 && break; sleep 0.1; done
echo "ClickHouse $(curl -fsS "http://127.0.0.1:$SHIM_PORT/" --data-binary 'SELECT version()') (chDB) at 127.0.0.1:$SHIM_PORT"
export X402SCOPE_TEST_CLICKHOUSE_COMPRESSION=none
X402SCOPE_TEST_CLICKHOUSE_URL="http://127.0.0.1:$SHIM_PORT" cargo test -p x402scope-store --test clickhouse_sql
X402SCOPE_TEST_CLICKHOUSE_URL="http://127.0.0.1:$SHIM_PORT" \
  cargo test -p x402scope-store --test conformance --test migrations_and_durability -- clickhouse
X402SCOPE_TEST_CLICKHOUSE_URL="http://127.0.0.1:$SHIM_PORT" cargo test -p x402scope-kyt --test store -- clickhouse
X402SCOPE_TEST_CLICKHOUSE_URL="http://127.0.0.1:$SHIM_PORT" cargo test -p x402scope-analysis --test scenario -- clickhouse
X402SCOPE_TEST_CLICKHOUSE_URL="http://127.0.0.1:$SHIM_PORT" cargo test -p x402scope-store --test solana -- clickhouse
unset X402SCOPE_TEST_CLICKHOUSE_COMPRESSION
kill "$SHIM_PID" 2>/dev/null || true; SHIM_PID=

step "schemathesis against serve's OpenAPI document (/api/v1/openapi.json)"
ST_DIR=$(mktemp -d -t x402scope-st.XXXXXX)
ST_PORT=$(free_port)
"$CARGO_TARGET_DIR/debug/x402scope" --store "sqlite://$ST_DIR/st.db" bench seed --rows 20000
X402SCOPE_SERVE__INDEXERS=false X402SCOPE_SERVE__RATE_LIMIT_PER_SECOND=0 \
  "$CARGO_TARGET_DIR/debug/x402scope" --store "sqlite://$ST_DIR/st.db" --log-level warn \
  serve --listen "127.0.0.1:$ST_PORT" > "$ST_DIR/serve.log" 2>&1 &
ST_SERVE_PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$ST_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
ST_RC=0
"$VENV/bin/st" run "http://127.0.0.1:$ST_PORT/api/v1/openapi.json" --max-examples 30 --seed 1 || ST_RC=$?
kill -INT "$ST_SERVE_PID" 2>/dev/null || true; wait "$ST_SERVE_PID" 2>/dev/null || true
rm -rf "$ST_DIR"
if [ "$ST_RC" != 0 ]; then echo "schemathesis found failures"; exit 1; fi

if [ "${WITH_SOLANA_VALIDATOR:-0}" = 1 ]; then
  # (Not an X402SCOPE_* name: those are configuration, and the binary refuses unknown keys.)
  # Opt-in: its cold build (solana-test-validator) takes about an hour on 2 cores,
  # too long for CI. It shares the target directory with the main workspace.
  VT=crates/solana-validator-tests/Cargo.toml
  step "Solana validator tests: fmt and clippy"
  cargo fmt --manifest-path "$VT" -- --check
  cargo clippy --manifest-path "$VT" --all-targets --quiet -- -D warnings
  step "Solana validator tests (in-process solana-test-validator, SQLite and ClickHouse)"
  cargo test --manifest-path "$VT"
fi

step "no stray processes"
STRAY=$(pgrep -af "tests/env/(node_modules/@foundry-rs/anvil|harness\.mjs)|x402scope-ch-" || true)
if [ -n "$STRAY" ]; then echo "test processes outlived their tests:"; echo "$STRAY"; exit 1; fi
echo "none"

step "done in $(( $(date +%s) - T0 )) s"
