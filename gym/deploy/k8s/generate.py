"""Write gymchain's Kubernetes manifests (gym/deploy/k8s/*.yaml) from one table of workloads.

    gym/.venv/bin/python gym/deploy/k8s/generate.py          # rewrite the manifests
    gym/.venv/bin/python gym/deploy/k8s/generate.py --check  # exit 1 if a committed manifest differs

Why generated: eleven workloads share the same pod template (non-root, read-only root file system, probes,
resources, ConfigMap + Secret, spread over nodes); writing each by hand would let them drift. The output is plain
YAML that `kubectl apply -k gym/deploy/k8s` takes as it is (no Helm binary is needed to deploy or to review it),
and gym/tests/test_deploy_static.py validates it against the Kubernetes 1.33 schemas (kubernetes-validate,
strict) and checks that every service and worker of gym/src/gymchain has a row in WORKLOADS.

The cluster uses managed PostgreSQL, Redis, RabbitMQ and Kafka (gym/deploy/terraform: RDS, ElastiCache, Amazon
MQ, MSK); their addresses and credentials reach the pods through the Secret ``gymchain-secrets``, which is
created at deploy time from the CI secret store (.github/workflows/gymchain.yml) and never committed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
NAMESPACE = "gymchain"
SECRET = "gymchain-secrets"
CONFIG = "gymchain-config"
LABEL = "app.kubernetes.io/name"
PART_OF = {"app.kubernetes.io/part-of": "gymchain"}


@dataclass(frozen=True)
class Workload:
    name: str            # Deployment / Service / image name (image gymchain-<name>)
    module: str          # what the container runs (checked against gym/src/gymchain by the tests)
    port: int | None     # HTTP port with GET /health, or None for a worker
    cpu: tuple[str, str]     # request, limit
    memory: tuple[str, str]  # request, limit
    replicas: tuple[int, int]  # HPA min, max (equal: no autoscaler)
    public: bool = False
    schedule: str | None = None  # a CronJob (cron syntax, UTC) instead of a Deployment


# One row per process of gymchain that runs in the cluster. Unit edge agents (gymchain.sync.edge) run at the gyms,
# next to each unit's own database, not here: they have a Dockerfile target (edge) and a compose profile.
WORKLOADS = (
    Workload("gateway", "gymchain.gateway.app", 8000, ("200m", "1"), ("256Mi", "512Mi"), (2, 10), public=True),
    Workload("auth", "gymchain.auth.app", 8001, ("100m", "1"), ("256Mi", "512Mi"), (2, 6)),
    Workload("members", "gymchain.members.app", 8002, ("200m", "1"), ("256Mi", "768Mi"), (2, 10)),
    Workload("analytics", "gymchain.analytics.app", 8003, ("250m", "2"), ("768Mi", "2Gi"), (2, 6)),
    Workload("vision", "gymchain.vision.app", 8004, ("100m", "1"), ("256Mi", "512Mi"), (2, 6)),
    Workload("assistant", "gymchain.assistant.app", 8005, ("250m", "2"), ("1Gi", "2Gi"), (2, 6)),
    Workload("sync-central", "gymchain.sync.central", 8110, ("100m", "1"), ("256Mi", "512Mi"), (2, 4)),
    # the outbox relay publishes in outbox order: one replica (a restart resumes from the table)
    Workload("outbox-relay", "gymchain.common.messaging.relay", None, ("50m", "500m"), ("128Mi", "256Mi"), (1, 1)),
    # a Kafka consumer group: more replicas than partitions (3) would idle
    Workload("sensor-ingest", "gymchain.common.messaging.sensor_ingest", None, ("100m", "1"), ("128Mi", "384Mi"),
             (1, 3)),
    # RabbitMQ consumers of batch-scoring and retraining (competing consumers: scale on CPU)
    Workload("analytics-worker", "gymchain.ml.worker", None, ("500m", "2"), ("1Gi", "3Gi"), (1, 4)),
    # video-analysis jobs (pose, people flow); its own image (mediapipe needs numpy<2)
    Workload("vision-worker", "gymchain.vision.worker", None, ("500m", "2"), ("1Gi", "3Gi"), (1, 4)),
    # assistant reply jobs (retrieval + the small local LLM: memory for the model)
    Workload("assistant-worker", "gymchain.assistant.worker", None, ("250m", "2"), ("1Gi", "2Gi"), (1, 4)),
    # churn-model drift check every night (03:30 in Brasilia); queues a retraining job when it alerts
    Workload("drift-monitor", "gymchain.ml.drift", None, ("250m", "1"), ("512Mi", "2Gi"), (1, 1),
             schedule="30 6 * * *"),
)


def labels(name: str) -> dict:
    return {LABEL: name, **PART_OF}


def meta(name: str, **extra) -> dict:
    return {"name": name, "namespace": NAMESPACE, "labels": labels(name), **extra}


def container(w: Workload) -> dict:
    c = {
        "name": w.name,
        "image": f"gymchain-{w.name}",  # kustomize `images:` sets registry and tag at deploy time
        "imagePullPolicy": "IfNotPresent",
        "envFrom": [{"configMapRef": {"name": CONFIG}}, {"secretRef": {"name": SECRET}}],
        "resources": {"requests": {"cpu": w.cpu[0], "memory": w.memory[0]},
                      "limits": {"cpu": w.cpu[1], "memory": w.memory[1]}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if w.port:
        c["ports"] = [{"name": "http", "containerPort": w.port, "protocol": "TCP"}]
        def health() -> dict:  # a fresh dict each time (a shared one would become a YAML anchor)
            return {"httpGet": {"path": "/health", "port": "http"}}

        # startup: /health answers (200 even when degraded: it reports, it does not fail);
        # readiness: /health says "status": "ok" - for a service that means its database answers, so a pod cut off
        # from PostgreSQL gets no traffic. The gateway's status is "degraded" when ANY service is, which must not
        # take the whole entry point out, so the gateway is ready when it answers at all.
        # liveness: the process accepts connections (a database outage must not restart every pod).
        c["startupProbe"] = {**health(), "periodSeconds": 5, "failureThreshold": 36}
        ready = health() if w.name == "gateway" else {"exec": {"command": [
            "python", "-c", ("import json, sys, urllib.request; sys.exit(json.load(urllib.request.urlopen("
            f"'http://127.0.0.1:{w.port}/health', timeout=3))['status'] != 'ok')")]}}
        c["readinessProbe"] = {**ready, "periodSeconds": 10, "timeoutSeconds": 4, "failureThreshold": 3}
        c["livenessProbe"] = {"tcpSocket": {"port": "http"}, "periodSeconds": 20, "timeoutSeconds": 4,
                              "failureThreshold": 3}
    # A worker has no port and writes no heartbeat, so it gets no probe: an exec probe could only ask whether
    # PID 1 runs, which the kubelet already knows (the worker exits on a lost connection and is restarted).
    return c


def pod_metadata(w: Workload) -> dict:
    md = {"labels": labels(w.name)}
    if w.port:  # every create_app service serves GET /metrics (gymchain.common.metrics)
        md["annotations"] = {"prometheus.io/scrape": "true", "prometheus.io/port": str(w.port),
                             "prometheus.io/path": "/metrics"}
    return md


def pod_spec(w: Workload) -> dict:
    return {
        "serviceAccountName": "gymchain",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container(w)],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": {LABEL: w.name}}},
                                      {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": {LABEL: w.name}}}],
        "terminationGracePeriodSeconds": 30,
    }


def deployment(w: Workload) -> dict:
    strategy = ({"type": "Recreate"} if w.replicas == (1, 1)
                else {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(w.name),
            "spec": {"replicas": w.replicas[0], "revisionHistoryLimit": 5, "strategy": strategy,
                     "selector": {"matchLabels": {LABEL: w.name}},
                     "template": {"metadata": pod_metadata(w), "spec": pod_spec(w)}}}


def cron_job(w: Workload) -> dict:
    spec = pod_spec(w)
    spec["restartPolicy"] = "Never"
    spec.pop("topologySpreadConstraints")
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(w.name),
            "spec": {"schedule": w.schedule, "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 5,
                     "jobTemplate": {"spec": {"backoffLimit": 1, "activeDeadlineSeconds": 3600,
                                              "template": {"metadata": pod_metadata(w), "spec": spec}}}}}


def service(w: Workload) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(w.name),
            "spec": {"type": "ClusterIP", "selector": {LABEL: w.name},
                     "ports": [{"name": "http", "port": w.port, "targetPort": "http", "protocol": "TCP"}]}}


def autoscaler(w: Workload) -> dict:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta(w.name),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name},
                     "minReplicas": w.replicas[0], "maxReplicas": w.replicas[1],
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": 70}}},
                                 {"type": "Resource", "resource": {"name": "memory", "target": {
                                     "type": "Utilization", "averageUtilization": 80}}}],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}}}


def disruption_budget(w: Workload) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(w.name),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {LABEL: w.name}}}}


def config_map() -> dict:
    urls = {f"GYM_{w.name.upper()}_URL": f"http://{w.name}.{NAMESPACE}.svc:{w.port}"
            for w in WORKLOADS if w.port and w.name in ("auth", "members", "analytics", "vision", "assistant")}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(CONFIG),
            "data": {"GYM_ENV": "production", "GYM_REDIS_PREFIX": "gym:",
                     "GYM_CENTRAL_SYNC_URL": f"http://sync-central.{NAMESPACE}.svc:8110",
                     "GYM_ACCESS_TOKEN_MINUTES": "15", "GYM_REFRESH_TOKEN_DAYS": "14",
                     "GYM_RATE_LIMIT_PER_MINUTE": "600", "GYM_LOGIN_RATE_LIMIT_PER_MINUTE": "30", **urls}}


def migrate_job() -> dict:
    c = container(Workload("migrate", "gymchain.cli", None, ("100m", "1"), ("256Mi", "1Gi"), (1, 1)))
    c["command"] = ["gymchain", "migrate"]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("gymchain-migrate"),
            "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 900, "ttlSecondsAfterFinished": 86400,
                     "template": {"metadata": {"labels": labels("gymchain-migrate")}, "spec": {
                         "restartPolicy": "Never", "serviceAccountName": "gymchain",
                         "automountServiceAccountToken": False,
                         "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                             "seccompProfile": {"type": "RuntimeDefault"}},
                         "containers": [c], "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]}}}}


def ingress() -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": meta("gateway", annotations={
                "alb.ingress.kubernetes.io/scheme": "internet-facing",
                "alb.ingress.kubernetes.io/target-type": "ip",
                "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]',
                "alb.ingress.kubernetes.io/ssl-redirect": "443",
                "alb.ingress.kubernetes.io/healthcheck-path": "/health"}),
            "spec": {"ingressClassName": "alb",
                     "tls": [{"hosts": ["gymchain.example.com"]}],
                     "rules": [{"host": "gymchain.example.com", "http": {"paths": [{
                         "path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "gateway", "port": {"name": "http"}}}}]}}]}}


def network_policies() -> list[dict]:
    """Default deny ingress in the namespace; the gateway takes traffic from anywhere (the load balancer), every
    other pod only from pods of this namespace."""
    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("default-deny-ingress"),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    internal = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("same-namespace"),
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [{"podSelector": {}}]}]}}
    public = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("gateway-public"),
              "spec": {"podSelector": {"matchLabels": {LABEL: "gateway"}}, "policyTypes": ["Ingress"],
                       "ingress": [{"ports": [{"port": 8000, "protocol": "TCP"}]}]}}
    # unit edge agents reach the central sync service from the gyms through its own load balancer (not shown)
    return [deny, internal, public]


def documents() -> dict[str, list[dict]]:
    """File name -> the documents it holds."""
    files: dict[str, list[dict]] = {
        "namespace.yaml": [
            {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": NAMESPACE, "labels": {**PART_OF,
                                                        "pod-security.kubernetes.io/enforce": "restricted"}}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("gymchain"),
             "automountServiceAccountToken": False}],
        "config.yaml": [config_map()],
        "migrate-job.yaml": [migrate_job()],
        "ingress.yaml": [ingress()],
        "network-policy.yaml": network_policies(),
    }
    for w in WORKLOADS:
        if w.schedule:
            files[f"{w.name}.yaml"] = [cron_job(w)]
            continue
        docs = [deployment(w)]
        if w.port:
            docs.append(service(w))
        if w.replicas[1] > w.replicas[0]:
            docs.append(autoscaler(w))
        if w.replicas[0] >= 2:
            docs.append(disruption_budget(w))
        files[f"{w.name}.yaml"] = docs
    files["kustomization.yaml"] = [{
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": NAMESPACE,
        # namespace.yaml is applied once by a cluster administrator (docs/runbooks.md): the CI deploy role may
        # change only what is inside the namespace
        "resources": [name for name in files if name not in ("kustomization.yaml", "namespace.yaml")],
        "images": [{"name": f"gymchain-{w.name}", "newTag": "latest"} for w in WORKLOADS]
                  + [{"name": "gymchain-migrate", "newTag": "latest"}]}]
    return files


HEADER = "# Generated by gym/deploy/k8s/generate.py from its WORKLOADS table: edit that, then run it.\n"


def render(docs: list[dict]) -> str:
    return HEADER + "---\n".join(yaml.safe_dump(d, sort_keys=False, width=120) for d in docs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    args = parser.parse_args(argv)
    wanted = {name: render(docs) for name, docs in documents().items()}
    stale = [name for name, text in wanted.items()
             if not (HERE / name).exists() or (HERE / name).read_text() != text]
    extra = sorted(p.name for p in HERE.glob("*.yaml") if p.name not in wanted)
    if args.check:
        for name in stale:
            print(f"{HERE / name}: out of date (run python gym/deploy/k8s/generate.py)", file=sys.stderr)
        for name in extra:
            print(f"{HERE / name}: not produced by generate.py (remove it or add it to the table)", file=sys.stderr)
        return 1 if stale or extra else 0
    for name in stale:
        (HERE / name).write_text(wanted[name])
    for name in extra:
        (HERE / name).unlink()
    print(f"k8s: {len(wanted)} files, {len(stale)} rewritten, {len(extra)} removed ({HERE})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
