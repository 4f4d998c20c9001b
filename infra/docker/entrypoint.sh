#!/bin/sh
# Runs `dualrs <command>`. On AWS the queue's address and its AUTH token arrive apart (the token
# as a secret), so REDIS_URL is composed here when it is not given whole.
set -eu
if [ -z "${REDIS_URL:-}" ] && [ -n "${REDIS_HOST:-}" ]; then
  REDIS_URL="rediss://${REDIS_PASSWORD:+:${REDIS_PASSWORD}@}${REDIS_HOST}:${REDIS_PORT:-6379}"
  export REDIS_URL
fi
unset REDIS_PASSWORD
exec node /app/dist/cli/index.js "$@"
