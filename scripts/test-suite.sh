#!/usr/bin/env bash
# The suite's two halves side by side (vitest.config.ts): the broker-fault files, one at a time on the fault-test
# RabbitMQ node, and every other file, three at a time on the main services. The soak among them mostly waits, so
# three files share the two cores well. The faults' output follows the rest's; the exit status is both halves'.
set -uo pipefail
cd "$(dirname "$0")/.."
faults_log=$(mktemp)
trap 'rm -f "$faults_log"' EXIT
node_modules/.bin/vitest run --project broker-faults --no-file-parallelism >"$faults_log" 2>&1 &
faults=$!
node_modules/.bin/vitest run --project isolated --maxWorkers="${TEST_WORKERS:-3}"
isolated=$?
wait "$faults"
faults_status=$?
printf '\n── broker-faults (run beside the above) ──\n'
cat "$faults_log"
[ "$isolated" -eq 0 ] && [ "$faults_status" -eq 0 ]
