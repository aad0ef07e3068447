#!/bin/sh
# pointtron-entrypoint: the container image's entry point (compose/Dockerfile). The first argument
# names what to run; the rest is passed on.
#
#   fetcher|decoder|aggregator|persister|alerter [ARGS]   the stage, pointtron-<stage> [ARGS]
#   pointtron [ARGS] (or cli [ARGS])                      the operator CLI: pointtron topics create
#   topics create|list                                    shorthand for pointtron topics …
#   backup now|list|verify|restore|drill|create [ARGS]    pointtron-persister backup … (docs/operations.md)
#   help                                                  this text
#   anything else                                         run as given (e.g. sh)
#
# Configuration comes from POINTTRON_<SECTION>__<KEY> variables and POINTTRON_CONFIG
# (docs/specs/configuration.md). tini is PID 1 and forwards SIGTERM, so a stage drains cleanly.
set -eu

usage() {
  sed -n '2,13{s/^# \{0,1\}//p}' "$0"
}

if [ "$#" -eq 0 ]; then
  set -- help
fi
what=$1
shift
case "$what" in
  fetcher | decoder | aggregator | persister | alerter) exec "pointtron-$what" "$@" ;;
  pointtron | cli) exec pointtron "$@" ;;
  topics) exec pointtron topics "$@" ;;
  backup) exec pointtron-persister backup "$@" ;;
  help | -h | --help) usage ;;
  *) exec "$what" "$@" ;;
esac
