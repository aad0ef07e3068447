#!/usr/bin/env bash
# A local S3-compatible server that verifies AWS Signature V4: moto_server (moto, from PyPI) on
# 127.0.0.1, in a Python venv of its own. Used by the S3 client's integration tests and for trying
# backups locally.
#
#   moto.sh install          create the venv, pip-install moto[server]==$moto_version (idempotent)
#   moto.sh start [port]     start on 127.0.0.1:port (0: any free port), create an IAM user with
#                            an access key and the buckets, turn signature checking on, prove it,
#                            and print the endpoint (the only line on stdout)
#   moto.sh stop [port]      stop it (SIGTERM, then SIGKILL after a grace period)
#   moto.sh status [port]    exit 0 if it answers
#   moto.sh env [port]       print endpoint, region, credentials, buckets (NAME=value lines)
#
# How signing is enforced: moto checks signatures once its "no auth" allowance is used up
# (moto/core/authorization.py, ActionAuthenticatorMixin: settings.INITIAL_NO_AUTH_ACTION_COUNT,
# from the environment variable of that name, infinite by default). start runs the server with checks off, creates the IAM user, its policy and access key
# through moto's IAM API, then POSTs 0 to /moto-api/reset-auth: from then on every S3/IAM request
# is verified against that key (moto/iam/access_control.py recomputes the signature with botocore;
# a wrong secret gets 403 SignatureDoesNotMatch, an unknown key 403 InvalidAccessKeyId). start
# fails unless the key is accepted and a wrong secret refused. /moto-api/ itself is never checked.
# One correction applies (see launcher()): the check sees the request target as sent.
#
# Settings (environment):
#   POINTTRON_TOOLS_DIR    where the venv goes (default ~/.cache/point-tron; venv: moto-venv)
#   PYTHON                 interpreter for the venv (default python3; 3.9 or newer)
#   MOTO_PORT              default port (9010)
#   MOTO_STATE_DIR         pid file, log, env file (default <repo>/var/moto-<port>)
#   MOTO_REGION            signing region (default us-east-1)
#   MOTO_BUCKETS           buckets start creates, space-separated (default pointtron-backups)
#   MOTO_START_TIMEOUT_S   how long start waits for the server (default 30)
#   MOTO_EXIT_WITH_PID     if set, the server is stopped once that process is gone (for tests)
# Exit codes: 0 ok, 1 failure, 2 usage, 3 not installed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
moto_version=5.1.22
tools_dir=${POINTTRON_TOOLS_DIR:-$HOME/.cache/point-tron}
venv="$tools_dir/moto-venv"
python=${PYTHON:-python3}
port=${2:-${MOTO_PORT:-9010}}
state_dir=${MOTO_STATE_DIR:-$repo/var/moto-$port}
region=${MOTO_REGION:-us-east-1}
buckets=${MOTO_BUCKETS:-pointtron-backups}
start_timeout_s=${MOTO_START_TIMEOUT_S:-30}
pid_file="$state_dir/moto.pid"
log_file="$state_dir/moto.log"
env_file="$state_dir/moto.env"

say() { echo "moto: $*" >&2; }

# Every package of the venv, as tested with moto $moto_version on Python 3.11: moto's own
# dependencies float, and botocore computes the server side of every signature check.
constraints() {
  cat <<'PINS'
annotated-types==0.8.0
antlr4-python3-runtime==4.13.2
attrs==26.1.0
aws-sam-translator==1.103.0
aws-xray-sdk==2.15.0
blinker==1.9.0
boto3==1.44.8
botocore==1.44.8
certifi==2026.10.19.post1
cffi==2.1.1
cfn-lint==1.41.0
charset-normalizer==3.5.3
click==8.5.1
cryptography==50.0.2
docker==7.2.0
Flask==3.1.3
flask-cors==6.0.5
graphql-core==3.3.2
idna==3.20
itsdangerous==2.2.0
Jinja2==3.1.6
jmespath==1.1.0
joserfc==1.8.0
jsonpatch==1.48
jsonpath-ng==1.16.0
jsonpointer==3.12
jsonschema==4.26.0
jsonschema-path==0.5.0
jsonschema-specifications==2025.9.1
lazy-object-proxy==1.13.0
MarkupSafe==3.0.4
mpmath==1.3.0
networkx==3.6.1
openapi-schema-validator==0.9.0
openapi-spec-validator==0.9.0
pathable==0.6.0
py-partiql-parser==0.6.3
pycparser==3.12
pydantic==2.12.4
pydantic-settings==2.16.3
pydantic_core==2.41.5
pyparsing==3.3.3
python-dateutil==2.9.0.post0
python-dotenv==1.2.4
PyYAML==6.0.4
referencing==0.37.0
regex==2026.11.19
requests==2.34.2
responses==0.26.3
rfc3339-validator==0.1.4
rpds-py==2026.9.1
s3transfer==0.19.3
six==1.17.0
sympy==1.14.0
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
wrapt==2.5.2
xmltodict==1.0.4
PINS
}

stamp() { { echo "moto[server]==$moto_version"; constraints; } | sha256sum | cut -c1-16; }

installed() {
  [[ -x "$venv/bin/moto_server" && -f "$venv/.installed" && "$(cat "$venv/.installed")" == "$(stamp)" ]]
}

install() {
  if installed; then
    say "moto $moto_version already installed in $venv."
    return 0
  fi
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
    say "$python is missing or older than 3.9; set PYTHON to a newer interpreter."
    return 1
  fi
  say "Installing moto[server]==$moto_version into $venv."
  rm -rf "$venv"
  mkdir -p "$tools_dir"
  "$python" -m venv "$venv"
  local pins="$venv/constraints.txt"
  constraints >"$pins"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -c "$pins" "moto[server]==$moto_version"
  "$venv/bin/python" -c 'import moto.server, boto3, requests'
  stamp >"$venv/.installed"  # last: a venv without it is reinstalled from scratch
  say "Installed moto $moto_version."
}

# moto_server, with one correction to its signature check. moto recomputes a signature from
# werkzeug's request.url, an IRI: it decodes %2F in the query and reserved and non-ASCII bytes in
# the path, so any request whose key or prefix holds such characters fails with
# SignatureDoesNotMatch, even from boto3 (getmoto/moto#5948; "aws s3 ls s3://bucket/dir/" fails).
# AWS signs the request target as sent; so does this check, from the server's RAW_URI. Only the
# URL the check sees changes: routing, key parsing and the check itself stay moto's.
launcher() {
  cat <<'PY'
import sys
from urllib.parse import urlsplit

from moto.core.authorization import ActionAuthenticatorMixin

moto_check = ActionAuthenticatorMixin._authenticate_and_authorize_action


def check_as_sent(self, iam_request_cls, resource="*"):
    request = getattr(self, "request", None)
    raw = getattr(request, "environ", {}).get("RAW_URI", "")
    if not raw.startswith("/"):
        return moto_check(self, iam_request_cls, resource)
    decoded_url = self.uri
    parts = urlsplit(decoded_url)
    self.uri = f"{parts.scheme}://{parts.netloc}{raw}"
    try:
        return moto_check(self, iam_request_cls, resource)
    finally:
        self.uri = decoded_url


ActionAuthenticatorMixin._authenticate_and_authorize_action = check_as_sent

from moto.server import main

main()
PY
}

endpoint() { [[ -f "$state_dir/endpoint" ]] && cat "$state_dir/endpoint"; }

running_pid() {
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

answers() {
  local url=${1:-$(endpoint)}
  [[ -n "$url" ]] || return 1
  [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url/moto-api/data.json" 2>/dev/null) == 200 ]]
}

# Creates the IAM user and key, turns signature checking on, creates the buckets with the key,
# proves that a wrong secret is refused, and writes the env file (mode 0600).
bootstrap() {
  "$venv/bin/python" - "$1" "$region" "$env_file" "$buckets" <<'PY'
import json, os, re, sys

import boto3, requests
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, region, env_file, buckets = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)


def client(service, key_id, secret):
    return boto3.client(service, endpoint_url=endpoint, region_name=region, config=config,
                        aws_access_key_id=key_id, aws_secret_access_key=secret)


# Checks are still off: these requests only need to be well-formed.
iam = client("iam", "bootstrap", "bootstrap")
iam.create_user(UserName="pointtron")
iam.put_user_policy(UserName="pointtron", PolicyName="everything", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="pointtron")["AccessKey"]
key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]

requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()

s3 = client("s3", key_id, secret)
for bucket in buckets:
    extra = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **extra)
s3.list_buckets()
for bucket in buckets[:1]:
    # A prefix with characters werkzeug would decode: proves launcher()'s correction is active.
    s3.list_objects_v2(Bucket=bucket, Prefix="moto.sh/check a+b=\u00e9")
try:
    client("s3", key_id, secret + "x").list_buckets()
    sys.exit("moto: a wrong secret was accepted: signature checking is not on")
except ClientError as error:
    code = error.response["Error"]["Code"]
    if code != "SignatureDoesNotMatch":
        sys.exit(f"moto: a wrong secret got {code}, expected SignatureDoesNotMatch")

values = {"MOTO_ENDPOINT": endpoint, "AWS_REGION": region, "AWS_ACCESS_KEY_ID": key_id,
          "AWS_SECRET_ACCESS_KEY": secret, "MOTO_BUCKETS": " ".join(buckets)}
for name, value in values.items():
    if not re.fullmatch(r"[A-Za-z0-9/+=._: -]*", value):
        sys.exit(f"moto: unexpected characters in {name}")
fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as out:
    for name, value in values.items():
        out.write(f"{name}={value}\n" if " " not in value else f"{name}='{value}'\n")
PY
}

start() {
  if pid=$(running_pid) && answers && [[ -f "$env_file" ]]; then
    say "Already running at $(endpoint) (pid $pid)."
    endpoint
    return 0
  fi
  if ! installed; then
    say "moto $moto_version is not installed in $venv: run ops/s3/moto.sh install"
    return 3
  fi
  if pid=$(running_pid); then
    say "A server (pid $pid) runs but does not answer; stopping it first."
    stop
  fi
  mkdir -p "$state_dir"
  rm -f "$env_file" "$state_dir/endpoint"
  : >"$log_file"
  nohup "$venv/bin/python" -c "$(launcher)" -H 127.0.0.1 -p "$port" >>"$log_file" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pid_file"

  local deadline=$((SECONDS + start_timeout_s)) bound_port="" url=""
  until [[ -n "$url" ]] && answers "$url"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "moto_server exited during start-up; last lines of $log_file:"
      tail -n 20 "$log_file" >&2
      rm -f "$pid_file"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      say "moto_server did not answer within ${start_timeout_s}s; see $log_file."
      stop
      return 1
    fi
    if [[ -z "$bound_port" ]]; then
      # Werkzeug logs the address it bound, which is how port 0 becomes a real port.
      bound_port=$(sed -n 's|.*Running on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$log_file" |
        head -n 1)
      [[ -n "$bound_port" ]] && url="http://127.0.0.1:$bound_port"
    fi
    sleep 0.1
  done

  if ! bootstrap "$url" 2>>"$log_file"; then
    say "Setting up credentials and signature checking failed; last lines of $log_file:"
    tail -n 20 "$log_file" >&2
    stop
    return 1
  fi
  echo "$url" >"$state_dir/endpoint"
  if [[ -n "${MOTO_EXIT_WITH_PID:-}" ]]; then
    local owner=$MOTO_EXIT_WITH_PID
    (
      while kill -0 "$owner" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill -TERM "$pid" 2>/dev/null || true
    ) >/dev/null 2>&1 </dev/null &
    disown
  fi
  say "Ready at $url (pid $pid, region $region, buckets: $buckets; credentials in $env_file)."
  echo "$url"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    say "Not running."
    rm -f "$pid_file" "$env_file" "$state_dir/endpoint"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      say "moto_server did not stop within 10s; killing it."
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$pid_file" "$env_file" "$state_dir/endpoint"
  say "Stopped."
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) running_pid >/dev/null && answers ;;
  env)
    if [[ ! -f "$env_file" ]]; then
      say "Not started (no $env_file)."
      exit 1
    fi
    cat "$env_file"
    ;;
  *) sed -n '2,/^set /{/^#/p}' "$0" >&2; exit 2 ;;
esac
