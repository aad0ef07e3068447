#!/usr/bin/env python3
"""Checks the Kubernetes manifests of ops/k8s without a cluster or kubectl: structure, the
kustomization, and that what the manifests say about the stages matches the code (ports, probe
paths, configuration keys, drain timeout). Optionally (--bin) runs each stage binary with the
ConfigMap's file, the container's literal environment and --print-config, which parses the YAML
and every runtime key exactly as the pod would."""
import argparse
import os
import re
import subprocess
import sys

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import deploy_common as common  # noqa: E402

API_VERSIONS = {
    "Namespace": "v1",
    "Service": "v1",
    "Secret": "v1",
    "ConfigMap": "v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "Job": "batch/v1",
}
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CONFIG_PATH = "/etc/pointtron/pointtron.yaml"
SECRET_TEMPLATE = "secret.template.yaml"
SINGLETONS = ("fetcher", "aggregator", "alerter", "persister")


def memory_bytes(quantity):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"(\d+)([KMG]i?)?", str(quantity))
    if not match:
        return None
    return int(match.group(1)) * units.get(match.group(2) or "", 1)


def image_entrypoint(source_dir):
    """How the image (compose/Dockerfile) runs `args` when a container gives no command:
    {first word: executable} from compose/entrypoint.sh, e.g. {"fetcher": "pointtron-fetcher",
    "topics": "pointtron topics"}."""
    dockerfile = open(os.path.join(source_dir, "compose", "Dockerfile"), encoding="utf-8").read()
    entrypoint = re.findall(r"^ENTRYPOINT\s+(.*)$", dockerfile, re.MULTILINE)
    if not entrypoint or "pointtron-entrypoint" not in entrypoint[-1]:
        raise SystemExit("compose/Dockerfile: no ENTRYPOINT running pointtron-entrypoint")
    script = open(os.path.join(source_dir, "compose", "entrypoint.sh"), encoding="utf-8").read()
    words = {}
    for pattern, command in re.findall(r"^\s*([a-z| -]+)\)\s*exec\s+(\"pointtron-\$what\"|pointtron topics)",
                                       script, re.MULTILINE):
        for word in (w.strip() for w in pattern.split("|")):
            words[word] = f"pointtron-{word}" if command.startswith('"') else command
    return words


def template_secret_keys(path):
    """Keys the Secret template documents: the commented `# key: …` lines under stringData."""
    text = open(path, encoding="utf-8").read()
    return set(re.findall(r"^\s+#\s+([a-z0-9][a-z0-9-]*):\s", text, re.MULTILINE))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--bin", action="append", default=[], metavar="NAME=PATH",
                        help="a stage binary (fetcher=/path/pointtron-fetcher) for --print-config")
    args = parser.parse_args()
    src = args.source_dir
    k8s_dir = os.path.join(src, "ops", "k8s")
    binaries = dict(item.split("=", 1) for item in args.bin)
    f = common.Failures()

    ports = common.default_ports(src)
    entrypoint = image_entrypoint(src)
    f.check(all(entrypoint.get(stage) == f"pointtron-{stage}" for stage in common.STAGES)
            and entrypoint.get("topics") == "pointtron topics",
            f"compose/entrypoint.sh runs the stages and the topics command ({entrypoint})")
    served = common.served_get_paths(src)
    keys = common.documented_keys(src)
    for path in ("/health/live", "/health/ready", "/metrics"):
        f.check(path in served, f"pipeline/src/runtime.cc no longer serves GET {path}")

    # --- kustomization: lists every file, and every listed file exists.
    kustomization = yaml.safe_load(open(os.path.join(k8s_dir, "kustomization.yaml"), encoding="utf-8"))
    f.check(kustomization.get("kind") == "Kustomization", "kustomization.yaml: kind Kustomization")
    namespace = kustomization.get("namespace")
    f.check(namespace == "point-tron", "kustomization.yaml: namespace point-tron")
    resources = kustomization.get("resources", [])
    generated = {}
    for generator in kustomization.get("configMapGenerator", []):
        for entry in generator.get("files", []):
            generated[entry.split("=", 1)[-1]] = (generator["name"], entry.split("=", 1)[0])
    listed = set(resources) | set(generated)
    yaml_files = {name for name in os.listdir(k8s_dir)
                  if name.endswith((".yaml", ".yml")) and name != "kustomization.yaml"}
    for name in sorted(yaml_files - listed - {SECRET_TEMPLATE}):
        f.check(False, f"ops/k8s/{name} is not listed in kustomization.yaml")
    for name in sorted(listed):
        f.check(os.path.isfile(os.path.join(k8s_dir, name)), f"kustomization.yaml lists missing {name}")
    f.check(SECRET_TEMPLATE not in listed, f"{SECRET_TEMPLATE} must not be applied by kustomize")
    f.check("pointtron.yaml" in generated, "pointtron.yaml is generated into a ConfigMap")
    config_map_name, config_file_key = generated.get("pointtron.yaml", ("", ""))

    # --- the configuration file: every key documented; per-stage keys left to each stage.
    config = common.flatten(yaml.safe_load(open(os.path.join(k8s_dir, "pointtron.yaml"), encoding="utf-8")))
    for key in sorted(config):
        f.check(common.is_valid_key(key, keys), f"pointtron.yaml: {key} is not a documented configuration key")
    for key in ("http.port", "instance.id", "log.file_path"):
        f.check(key not in config, f"pointtron.yaml: {key} differs per stage and must not be shared")
    f.check("kafka.bootstrap_servers" in config, "pointtron.yaml: kafka.bootstrap_servers is set")
    drain_ms = common.drain_timeout_ms(src, config)

    # --- Secret template: no values at all.
    secret_docs = list(yaml.safe_load_all(open(os.path.join(k8s_dir, SECRET_TEMPLATE), encoding="utf-8")))
    secret_name = None
    for doc in secret_docs:
        f.check(doc.get("kind") == "Secret", f"{SECRET_TEMPLATE}: a Secret")
        f.check(not doc.get("data") and not doc.get("stringData"), f"{SECRET_TEMPLATE}: carries no values")
        secret_name = doc["metadata"]["name"]
    secret_keys = template_secret_keys(os.path.join(k8s_dir, SECRET_TEMPLATE))
    f.check(len(secret_keys) >= 3, f"{SECRET_TEMPLATE}: documents its keys (found {sorted(secret_keys)})")

    # --- every object: structure.
    docs = []
    for name in resources:
        path = os.path.join(k8s_dir, name)
        if not os.path.isfile(path):
            continue
        for doc in yaml.safe_load_all(open(path, encoding="utf-8")):
            if doc is not None:
                docs.append((name, doc))
    seen = set()
    for name, doc in docs:
        kind = doc.get("kind")
        meta = doc.get("metadata") or {}
        where = f"{name}: {kind}/{meta.get('name')}"
        f.check(kind in API_VERSIONS, f"{where}: unexpected kind")
        f.check(doc.get("apiVersion") == API_VERSIONS.get(kind), f"{where}: apiVersion {doc.get('apiVersion')}")
        f.check(bool(meta.get("name")) and NAME_RE.match(meta.get("name", "")) is not None,
                f"{where}: metadata.name is a DNS label")
        f.check((kind, meta.get("name")) not in seen, f"{where}: defined twice")
        seen.add((kind, meta.get("name")))
        f.check(meta.get("namespace") in (None, namespace), f"{where}: namespace comes from the kustomization")
    namespaces = [doc for _, doc in docs if doc.get("kind") == "Namespace"]
    f.check(len(namespaces) == 1 and namespaces[0]["metadata"]["name"] == namespace,
            "one Namespace, the kustomization's")

    workloads = [(name, doc) for name, doc in docs if doc.get("kind") in ("Deployment", "StatefulSet", "Job")]
    services = [doc for _, doc in docs if doc.get("kind") == "Service"]
    stage_workloads = {}
    stage_of_template = {}

    for name, doc in workloads:
        kind = doc["kind"]
        where = f"{name}: {kind}/{doc['metadata']['name']}"
        spec = doc.get("spec", {})
        template = spec.get("template", {})
        pod = template.get("spec", {})
        labels = (template.get("metadata") or {}).get("labels") or {}
        if kind != "Job":
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            f.check(bool(selector), f"{where}: has a selector")
            f.check(all(labels.get(k) == v for k, v in selector.items()),
                    f"{where}: selector {selector} matches the template labels {labels}")
        else:
            f.check(pod.get("restartPolicy") in ("OnFailure", "Never"), f"{where}: restartPolicy of a Job")

        pod_sc = pod.get("securityContext") or {}
        f.check(pod.get("automountServiceAccountToken") is False, f"{where}: no service account token")
        f.check((pod_sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", f"{where}: seccomp RuntimeDefault")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
        containers = pod.get("containers", [])
        f.check(len(containers) == 1, f"{where}: one container")
        for container in containers:
            cwhere = f"{where} container {container.get('name')}"
            command = list(container.get("command", [])) + list(container.get("args", []))
            # What runs: the command, or the image's entrypoint given args.
            if container.get("command"):
                runs = command
            elif command and command[0] in entrypoint:
                runs = entrypoint[command[0]].split() + command[1:]
            else:
                runs = []
            f.check(bool(runs), f"{cwhere}: runs a known program ({command})")
            sc = container.get("securityContext") or {}
            f.check(pod_sc.get("runAsNonRoot") is True or sc.get("runAsNonRoot") is True, f"{cwhere}: runAsNonRoot")
            f.check(sc.get("allowPrivilegeEscalation") is False, f"{cwhere}: allowPrivilegeEscalation false")
            f.check(sc.get("readOnlyRootFilesystem") is True, f"{cwhere}: readOnlyRootFilesystem")
            f.check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), f"{cwhere}: drops ALL capabilities")
            f.check(not (sc.get("capabilities") or {}).get("add"), f"{cwhere}: adds no capability")
            resources_ = container.get("resources") or {}
            requests = resources_.get("requests") or {}
            limits = resources_.get("limits") or {}
            f.check("cpu" in requests and "memory" in requests and "memory" in limits,
                    f"{cwhere}: cpu and memory requests, memory limit")
            if "memory" in requests and "memory" in limits:
                request, limit = memory_bytes(requests["memory"]), memory_bytes(limits["memory"])
                f.check(request is not None and limit is not None and request <= limit,
                        f"{cwhere}: memory request {requests['memory']} within limit {limits['memory']}")

            # --config points at the ConfigMap's file.
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            for mount in container.get("volumeMounts", []):
                f.check(mount["name"] in volumes or mount["name"] in claims,
                        f"{cwhere}: volumeMount {mount['name']} has a volume")
            f.check("--config" in command and command[command.index("--config") + 1:][:1] == [CONFIG_PATH],
                    f"{cwhere}: --config {CONFIG_PATH}")
            config_mount = mounts.get(os.path.dirname(CONFIG_PATH))
            volume = volumes.get(config_mount["name"]) if config_mount else None
            f.check(volume is not None and (volume.get("configMap") or {}).get("name") == config_map_name
                    and config_file_key == os.path.basename(CONFIG_PATH),
                    f"{cwhere}: {os.path.dirname(CONFIG_PATH)} is the ConfigMap {config_map_name}")
            if container.get("workingDir"):
                f.check(any(container["workingDir"] == p or container["workingDir"].startswith(p + "/")
                            for p, m in mounts.items() if not m.get("readOnly")),
                        f"{cwhere}: workingDir {container['workingDir']} is a writable volume")

            # Environment: configuration keys only, secrets from the template's keys, optional.
            literal_env = {}
            for var in container.get("env", []):
                key = common.env_to_key(var["name"])
                f.check(key is not None and common.is_valid_key(key, keys),
                        f"{cwhere}: env {var['name']} is not POINTTRON_<SECTION>__<KEY> of a documented key")
                source = var.get("valueFrom") or {}
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    f.check(ref.get("name") == secret_name and ref.get("key") in secret_keys,
                            f"{cwhere}: env {var['name']} reads {ref} documented in {SECRET_TEMPLATE}")
                    f.check(ref.get("optional") is True, f"{cwhere}: env {var['name']}: the Secret key is optional")
                elif "value" in var:
                    literal_env[var["name"]] = str(var["value"])
                else:
                    f.check("fieldRef" in source, f"{cwhere}: env {var['name']} has a value")

            binary = os.path.basename(runs[0]) if runs else ""
            if kind == "Job":
                f.check(binary == "pointtron" and runs[1:3] == ["topics", "create"],
                        f"{cwhere}: runs pointtron topics create")
                continue
            stage = binary[len("pointtron-"):] if binary.startswith("pointtron-") else None
            if not f.check(stage in common.STAGES, f"{cwhere}: {command} runs no stage"):
                continue
            stage_workloads.setdefault(stage, []).append((kind, doc))
            stage_of_template[id(template)] = stage

            # Ports and probes: the stage's real port and the runtime's real paths.
            port = ports[stage]
            port_env = literal_env.get("POINTTRON_HTTP__PORT")
            f.check(port_env is None or int(port_env) == port, f"{cwhere}: POINTTRON_HTTP__PORT keeps {port}")
            f.check(literal_env.get("POINTTRON_HTTP__LISTEN_ADDRESS") in ("0.0.0.0", "::"),
                    f"{cwhere}: listens on every address (POINTTRON_HTTP__LISTEN_ADDRESS)")
            named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            f.check(list(named.values()) == [port], f"{cwhere}: containerPort {port} (stages/{stage}/main.cc)")
            expected = {"startupProbe": "/health/live", "livenessProbe": "/health/live",
                        "readinessProbe": "/health/ready"}
            for probe_name, path in expected.items():
                probe = container.get(probe_name)
                if not f.check(probe is not None and "httpGet" in probe, f"{cwhere}: {probe_name} httpGet"):
                    continue
                get = probe["httpGet"]
                probe_port = named.get(get.get("port"), get.get("port"))
                f.check(probe_port == port, f"{cwhere}: {probe_name} port {get.get('port')} is {port}")
                f.check(get.get("path") == path and path in served, f"{cwhere}: {probe_name} path {path}")
            liveness = container.get("livenessProbe") or {}
            startup = container.get("startupProbe") or {}
            live_window = liveness.get("periodSeconds", 10) * liveness.get("failureThreshold", 3)
            f.check(live_window > 60, f"{cwhere}: liveness tolerates the 60 s blocking Kafka reads ({live_window} s)")
            start_window = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
            f.check(start_window > 120, f"{cwhere}: startup tolerates 2 minutes of waiting for Kafka ({start_window} s)")

            grace = pod.get("terminationGracePeriodSeconds", 30)
            f.check(grace * 1000 > drain_ms + common.HTTP_CLOSE_MS,
                    f"{cwhere}: terminationGracePeriodSeconds {grace} above the drain ({drain_ms} ms) + HTTP close")

            if stage in binaries:
                env = {k: v for k, v in os.environ.items() if not k.startswith("POINTTRON_")}
                env.update(literal_env)
                env["POINTTRON_INSTANCE__ID"] = f"{stage}-0"
                run = subprocess.run([binaries[stage], "--config", os.path.join(k8s_dir, "pointtron.yaml"),
                                      "--print-config"], env=env, capture_output=True, text=True, timeout=30)
                f.check(run.returncode == 0,
                        f"{cwhere}: pointtron-{stage} --print-config exit {run.returncode}: {run.stderr.strip()[-300:]}")

    # --- one workload per stage, replicas and update strategies.
    for stage in common.STAGES:
        found = stage_workloads.get(stage, [])
        if not f.check(len(found) == 1, f"exactly one workload runs pointtron-{stage} (found {len(found)})"):
            continue
        kind, doc = found[0]
        replicas = doc["spec"].get("replicas", 1)
        if stage == "persister":
            f.check(kind == "StatefulSet", "the persister is a StatefulSet")
            f.check(bool(doc["spec"].get("volumeClaimTemplates")), "the persister has a volumeClaimTemplate")
            governing = [s for s in services if s["metadata"]["name"] == doc["spec"].get("serviceName")]
            f.check(len(governing) == 1 and governing[0]["spec"].get("clusterIP") == "None",
                    "the persister's serviceName is a headless Service")
        else:
            f.check(kind == "Deployment", f"{stage} is a Deployment")
        if stage in SINGLETONS:
            f.check(replicas == 1, f"{stage}: replicas 1 (found {replicas})")
            if kind == "Deployment":
                f.check((doc["spec"].get("strategy") or {}).get("type") == "Recreate",
                        f"{stage}: strategy Recreate, never two at once")
        else:
            f.check(replicas >= 2, f"{stage}: scaled out (replicas {replicas})")

    # --- Services: select a workload, target its port; metrics Services annotated.
    pod_templates = [(doc, doc["spec"]["template"]) for _, doc in workloads if doc["kind"] != "Job"]
    scraped = set()
    for service in services:
        where = f"Service/{service['metadata']['name']}"
        selector = service["spec"].get("selector") or {}
        matched = [(doc, t) for doc, t in pod_templates
                   if selector and all(t["metadata"]["labels"].get(k) == v for k, v in selector.items())]
        if not f.check(len(matched) == 1, f"{where}: selects exactly one workload (found {len(matched)})"):
            continue
        template = matched[0][1]
        container = template["spec"]["containers"][0]
        named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port.get("port"))
            f.check(target in named or target in named.values(), f"{where}: targetPort {target} is a container port")
        annotations = service["metadata"].get("annotations") or {}
        if annotations.get("prometheus.io/scrape") == "true":
            stage = stage_of_template.get(id(template))
            f.check(annotations.get("prometheus.io/port") == str(ports.get(stage)),
                    f"{where}: prometheus.io/port is {ports.get(stage)}")
            f.check(annotations.get("prometheus.io/path", "/metrics") in served, f"{where}: prometheus.io/path served")
            f.check(service["spec"].get("publishNotReadyAddresses") is True,
                    f"{where}: not-ready pods are scraped too")
            scraped.add(stage)
    f.check(scraped == set(common.STAGES), f"every stage has a scraped Service (found {sorted(map(str, scraped))})")
    api = [s for s in services if s["metadata"]["name"] == "persister"]
    f.check(len(api) == 1 and any(p["port"] == ports["persister"] for p in api[0]["spec"]["ports"]),
            f"Service persister exposes the API port {ports['persister']}")

    return f.report("k8s")


if __name__ == "__main__":
    sys.exit(main())
