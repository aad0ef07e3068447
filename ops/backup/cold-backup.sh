#!/usr/bin/env bash
# Cold backup of the persister's database: stop the persister, archive the database at rest
# (compressed, encrypted, manifest, retention: the same archive format and targets as the hot
# backups, docs/operations.md), start the persister again. For hosts that prefer a short stop to
# a backup running beside ingestion; nothing is lost while it is stopped (Kafka keeps the records
# and the persister resumes from its stored offsets).
#
#   ops/backup/cold-backup.sh [--config FILE]
#
# Settings (environment):
#   PERSISTER_STOP   command that stops the persister and returns once it has exited
#                    (default: systemctl stop pointtron-persister)
#   PERSISTER_START  command that starts it again (default: systemctl start pointtron-persister)
#   PERSISTER_BIN    the persister binary (default: build/bin/pointtron-persister, else on PATH)
# The configuration (file and POINTTRON_* variables) is the persister's: persister.db_path,
# backup.key_file, backup.directory / backup.s3.*, backup.keep_last, backup.keep_daily_days.
# Exit status: 0 when the archive is stored and the persister runs again, 1 otherwise (the
# persister is restarted in every case).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
stop_cmd=${PERSISTER_STOP:-systemctl stop pointtron-persister}
start_cmd=${PERSISTER_START:-systemctl start pointtron-persister}
bin=${PERSISTER_BIN:-}
if [[ -z $bin ]]; then
  if [[ -x "$repo/build/bin/pointtron-persister" ]]; then bin="$repo/build/bin/pointtron-persister"
  else bin=$(command -v pointtron-persister || true); fi
fi
[[ -x $bin ]] || { echo "cold-backup: pointtron-persister not found (set PERSISTER_BIN)." >&2; exit 1; }

log() { echo "cold-backup: $*" >&2; }

log "stopping the persister: $stop_cmd"
bash -c "$stop_cmd"
status=0
if "$bin" backup create "$@"; then
  log "archive stored."
else
  status=1
  log "the backup failed; see above."
fi
log "starting the persister: $start_cmd"
bash -c "$start_cmd" || { log "the persister did not start again!"; exit 1; }
exit "$status"
