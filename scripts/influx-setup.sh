#!/usr/bin/env bash
# InfluxDB 2 retention and downsampling for NeuralTrade ingest. Idempotent: creates what is missing, brings
# retention and tasks up to date, changes nothing else.
#   docker-compose runs it once, after the image's first set-up (mounted in /docker-entrypoint-initdb.d);
#   by hand: INFLUX_HOST=… INFLUX_TOKEN=… INFLUX_ORG=… bash scripts/influx-setup.sh
# The daemon writes everything to INFLUX_BUCKET (raw: 7 d, the ticks' retention); the tasks in influx/tasks copy
# candles and signals into the buckets that keep them longer, and downsample ticks to one point per minute.
set -euo pipefail

ORG="${INFLUX_ORG:-${DOCKER_INFLUXDB_INIT_ORG:-neuraltrade}}"
RAW="${INFLUX_BUCKET:-${DOCKER_INFLUXDB_INIT_BUCKET:-market}}"
TASKS="${INFLUX_TASKS_DIR:-$(cd "$(dirname "$0")" && pwd)/influx-tasks}"
[ -d "$TASKS" ] || TASKS="$(cd "$(dirname "$0")/.." && pwd)/influx/tasks"

log() { printf 'influx-setup: %s\n' "$*"; }
command -v influx >/dev/null || { log "ERROR: the influx CLI is not on PATH"; exit 1; }

# bucket NAME RETENTION (0 = infinite)
bucket() {
  local id
  id="$(influx bucket list --org "$ORG" --name "$1" --hide-headers 2>/dev/null | awk '{print $1}' | head -n1 || true)"
  if [ -z "$id" ]; then
    influx bucket create --org "$ORG" --name "$1" --retention "$2" >/dev/null
    log "created bucket $1 (retention $2)"
  else
    influx bucket update --id "$id" --retention "$2" >/dev/null
    log "bucket $1 retention set to $2"
  fi
}

bucket "$RAW" 168h
bucket candles_1m 2160h
bucket candles_long 8760h
bucket candles_1d 0
bucket signals 8760h

for file in "$TASKS"/*.flux; do
  name="$(sed -n 's/^option task = {name: "\([^"]*\)".*/\1/p' "$file")"
  # Names without spaces, so that the CLI's column output can be matched.
  [[ "$name" =~ ^[a-z0-9-]+$ ]] || { log "ERROR: $file needs 'option task = {name: \"lower-case-name\", …}'"; exit 1; }
  flux="$(sed "s/__RAW_BUCKET__/$RAW/g" "$file")"
  id="$(influx task list --org "$ORG" --hide-headers 2>/dev/null | awk -v n="$name" '$2 == n {print $1}' | head -n1 || true)"
  if [ -z "$id" ]; then
    printf '%s\n' "$flux" | influx task create --org "$ORG" --file /dev/stdin >/dev/null
    log "created task \"$name\""
  else
    printf '%s\n' "$flux" | influx task update --id "$id" --file /dev/stdin >/dev/null
    log "updated task \"$name\""
  fi
done
log "done: org $ORG, raw bucket $RAW"
