"""What the deployment checks compare the files in ops/ with: facts read from the source tree."""
import glob
import os
import re

# The stages of the pipeline (stages/<name>/main.cc); the CLI is not one.
STAGES = ("fetcher", "decoder", "aggregator", "persister", "alerter")

# Sections owned by the runtime (docs/specs/configuration.md §5) and by the stages (§8-§12, the
# stage READMEs); backup.* belongs to the persister.
RUNTIME_SECTIONS = ("kafka", "http", "metrics", "instance", "shutdown", "log")
SECTIONS = RUNTIME_SECTIONS + STAGES + ("backup",)


class Failures:
    """Collects failed checks; report() prints them and gives the exit code."""

    def __init__(self):
        self.items = []
        self.checked = 0

    def check(self, ok, message):
        self.checked += 1
        if not ok:
            self.items.append(message)
        return ok

    def report(self, what):
        for item in self.items:
            print(f"FAIL: {item}")
        if self.items:
            print(f"{what}: {len(self.items)} of {self.checked} checks failed")
            return 1
        print(f"{what}: all {self.checked} checks passed")
        return 0


def default_ports(source_dir):
    """{stage: default_http_port} as set in stages/<stage>/main.cc."""
    ports = {}
    for stage in STAGES:
        text = open(os.path.join(source_dir, "stages", stage, "main.cc"), encoding="utf-8").read()
        match = re.search(r"\.default_http_port\s*=\s*(\d+)", text)
        if not match:
            raise SystemExit(f"no default_http_port in stages/{stage}/main.cc")
        ports[stage] = int(match.group(1))
    return ports


def served_get_paths(source_dir):
    """The GET routes the runtime registers on every stage's admin server."""
    text = open(os.path.join(source_dir, "pipeline", "src", "runtime.cc"), encoding="utf-8").read()
    return set(re.findall(r'route\("GET",\s*"([^"]+)"', text))


def documented_keys(source_dir):
    """Every configuration key in the first column of a table of configuration.md or a stage
    README, restricted to the known sections (the same tables also list librdkafka properties)."""
    files = [os.path.join(source_dir, "docs", "specs", "configuration.md")]
    files += sorted(glob.glob(os.path.join(source_dir, "stages", "*", "README.md")))
    keys = set()
    for path in files:
        for line in open(path, encoding="utf-8"):
            match = re.match(r"\|\s*`([a-z0-9_]+(?:\.[a-z0-9_<>]+)+)`\s*\|", line)
            if match and match.group(1).split(".")[0] in SECTIONS:
                keys.add(match.group(1))
    if len(keys) < 40:
        raise SystemExit(f"only {len(keys)} documented keys found; has the table format changed?")
    return keys


def is_valid_key(key, keys):
    if key.startswith("kafka.rdkafka."):
        return len(key) > len("kafka.rdkafka.")  # validated by librdkafka itself
    return key in keys


def env_to_key(name):
    """POINTTRON_<SECTION>__<KEY> -> section.key, or None for a name that is not a key
    (configuration.md §1: only variables containing "__" are keys)."""
    if not name.startswith("POINTTRON_") or "__" not in name:
        return None
    rest = name[len("POINTTRON_"):].lower()
    if rest.startswith("kafka__rdkafka__"):
        return "kafka.rdkafka." + rest[len("kafka__rdkafka__"):].replace("_", ".")
    return rest.replace("__", ".")


def flatten(tree, prefix=""):
    """{dotted.key: value} of a configuration file's YAML (nested maps joined with ".")."""
    out = {}
    for key, value in (tree or {}).items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, dotted + "."))
        elif value is not None:
            out[dotted] = value
    return out


def drain_timeout_ms(source_dir, config):
    """shutdown.drain_timeout_ms of a flattened configuration, else the default documented in the
    "default" column of its row in configuration.md."""
    if "shutdown.drain_timeout_ms" in config:
        return int(config["shutdown.drain_timeout_ms"])
    path = os.path.join(source_dir, "docs", "specs", "configuration.md")
    column = None
    for line in open(path, encoding="utf-8"):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if "key" in cells and "default" in cells:
            column = cells.index("default")
        elif column is not None and cells and cells[0] == "`shutdown.drain_timeout_ms`":
            return int(re.sub(r"\D", "", cells[column]))
    raise SystemExit("no default of shutdown.drain_timeout_ms in configuration.md")


# After the drain the HTTP server lets requests in progress finish for up to 5 s
# (docs/specs/stage.md §1.2 step 5).
HTTP_CLOSE_MS = 5000
