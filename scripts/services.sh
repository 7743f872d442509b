#!/usr/bin/env bash
# Starts the services the test suite talks to (PostgreSQL, RabbitMQ, InfluxDB) on a Debian machine without Docker,
# and installs what its tests start themselves (redis-server, Chromium).
# Run after `npm ci`: the InfluxDB v2-write proxy is the project's own TypeScript (test/support/influx.ts).
# Idempotent: quick when they already run, loud when one cannot start. With Docker, `docker compose up -d --wait`.
set -euo pipefail

log() { printf 'services: %s\n' "$*"; }

start_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then log "PostgreSQL is up"; return; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && { log "PostgreSQL is up"; return; }; sleep 1; done
  log "ERROR: PostgreSQL did not start on 127.0.0.1:5432 (see /var/log/postgresql)"; exit 1
}

start_rabbitmq() {
  if rabbitmq-diagnostics -q ping >/dev/null 2>&1; then log "RabbitMQ is up"; bound_dead_letters; enable_management; return; fi
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    log "installing RabbitMQ"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  log "starting RabbitMQ"
  rabbitmq-server -detached || true
  for _ in $(seq 1 60); do rabbitmq-diagnostics -q ping >/dev/null 2>&1 && break; sleep 1; done
  rabbitmqctl await_startup >/dev/null 2>&1 || { log "ERROR: RabbitMQ did not start (see /var/log/rabbitmq)"; exit 1; }
  log "RabbitMQ is up"
  bound_dead_letters
  enable_management
}

# The management API lets the daemon check its dead-letter queues' bounds at start, and the tests read broker alarms
# from it. Its statistics collector stays off: on two shared cores it took enough of the broker's time to slow
# publisher confirms several-fold (bench:e2e at 10,000 trades/s: RabbitMQ p99 1.7-6 s with it, 0.6 s without),
# and neither the policies nor the health checks need it. Set at run time, so it holds until the broker restarts.
enable_management() {
  local off="application:get_env(rabbitmq_management_agent, disable_metrics_collector)."
  if rabbitmq-plugins -q list -e -m 2>/dev/null | grep -qx rabbitmq_management &&
    [ "$(rabbitmqctl -q eval "$off" 2>/dev/null)" = "{ok,true}" ]; then return; fi
  rabbitmq-plugins -q disable rabbitmq_management rabbitmq_management_agent rabbitmq_web_dispatch >/dev/null
  rabbitmqctl -q eval 'application:load(rabbitmq_management_agent),
    application:set_env(rabbitmq_management_agent, disable_metrics_collector, true).' >/dev/null
  rabbitmq-plugins -q enable rabbitmq_management >/dev/null &&
    log "RabbitMQ: management API enabled on :15672 (statistics collector off)"
}

# Dead-letter queues are bounded by a policy, not by declaration arguments, so no service's declaration of them
# conflicts with another's (README, "RabbitMQ topology").
bound_dead_letters() {
  rabbitmqctl -q set_policy --apply-to queues --priority 0 dead-letters-bounded '\.dlq$' \
    '{"max-length":100000,"max-length-bytes":268435456,"overflow":"drop-head","message-ttl":604800000}' >/dev/null &&
    log "RabbitMQ: dead-letter queues bounded by policy dead-letters-bounded"
}

# A second node, faults@localhost on 127.0.0.1:5673, for the test files that stop, restart and cut the broker
# (vitest project `broker-faults`): they run beside the rest of the suite, which keeps the main node to itself.
# Its own config (the machine's names 5672), no plugins (the management API would want :15672 too).
FAULT_NODE=faults@localhost
FAULT_DIR=/var/lib/neuraltrade-rabbit-faults
start_fault_broker() {
  if rabbitmq-diagnostics -q -n "$FAULT_NODE" ping >/dev/null 2>&1; then
    rabbitmqctl -q -n "$FAULT_NODE" start_app >/dev/null 2>&1 || true
    log "RabbitMQ fault-test node is up on 127.0.0.1:5673"; return
  fi
  mkdir -p "$FAULT_DIR/mnesia" "$FAULT_DIR/log"
  printf 'listeners.tcp.local = 127.0.0.1:5673\n' >"$FAULT_DIR/rabbitmq.conf"
  printf '[].\n' >"$FAULT_DIR/enabled_plugins"
  grep -v '^NODENAME=' /etc/rabbitmq/rabbitmq-env.conf >"$FAULT_DIR/env.conf" 2>/dev/null || true
  chown -R rabbitmq:rabbitmq "$FAULT_DIR" 2>/dev/null || true
  log "starting the RabbitMQ fault-test node"
  RABBITMQ_NODENAME="$FAULT_NODE" RABBITMQ_NODE_PORT=5673 RABBITMQ_DIST_PORT=25673 \
    RABBITMQ_CONF_ENV_FILE="$FAULT_DIR/env.conf" RABBITMQ_CONFIG_FILE="$FAULT_DIR/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$FAULT_DIR/enabled_plugins" RABBITMQ_MNESIA_BASE="$FAULT_DIR/mnesia" \
    RABBITMQ_LOG_BASE="$FAULT_DIR/log" rabbitmq-server -detached || true
  for _ in $(seq 1 60); do rabbitmq-diagnostics -q -n "$FAULT_NODE" ping >/dev/null 2>&1 && break; sleep 1; done
  rabbitmqctl -n "$FAULT_NODE" await_startup >/dev/null 2>&1 ||
    { log "ERROR: the RabbitMQ fault-test node did not start (see $FAULT_DIR/log)"; exit 1; }
  log "RabbitMQ fault-test node is up on 127.0.0.1:5673"
}

# Debian has influxd 1.6.7 only, which lacks /api/v2/write: it runs behind the project's v2-write proxy.
start_influx() {
  if ! command -v influxd >/dev/null 2>&1; then
    log "installing InfluxDB (Debian's influxdb 1.6)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null
  fi
  if [ ! -x node_modules/.bin/tsx ]; then
    log "ERROR: node_modules/.bin/tsx is missing; run 'npm ci' first (the InfluxDB proxy is part of the project)"; exit 1
  fi
  node_modules/.bin/tsx test/support/influx.ts up | sed 's/^/services: /'
}

# The Redis sink's tests start redis-servers of their own on free ports (they stop them); only the binary is needed.
install_redis() {
  if command -v redis-server >/dev/null 2>&1; then log "redis-server is installed"; return; fi
  log "installing Redis"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  command -v redis-server >/dev/null 2>&1 || { log "ERROR: redis-server did not install"; exit 1; }
}

# The live page's browser tests drive Debian's Chromium with playwright-core.
install_chromium() {
  if [ -x /usr/bin/chromium ]; then log "Chromium is installed"; return; fi
  log "installing Chromium (about a minute)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x /usr/bin/chromium ] || { log "ERROR: /usr/bin/chromium did not install"; exit 1; }
}

cd "$(dirname "$0")/.."
start_postgres
start_rabbitmq
start_fault_broker
start_influx
install_redis
install_chromium
