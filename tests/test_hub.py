"""The shipped JupyterHub configuration, run for real on 127.0.0.1 with real accounts (hub/hubtest.py).

Needs root (it creates accounts; the hub switches to them), a Python with jupyterhub (and
jupyterhub-idle-culler), configurable-http-proxy and Debian's dataset-fashion-mnist. `make hubtest`
installs the first two into HUB_PREFIX (default /opt/course-hub); .ci/run does the same as root.
Where to find them: HUBTEST_PYTHON and HUBTEST_PROXY, else HUB_PREFIX's, else the ones on PATH.
Set COURSE_SKIP_HUBTEST=1 to skip it (it takes 3-5 minutes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PREFIX = Path(os.environ.get("HUB_PREFIX", "/opt/course-hub"))
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def _hub_python() -> str | None:
    candidates = [os.environ.get("HUBTEST_PYTHON"), str(PREFIX / "bin" / "python")]
    hub = shutil.which("jupyterhub")
    if hub:
        candidates.append(str(Path(hub).parent / "python"))
    for python in filter(None, candidates):
        if Path(python).is_file() and subprocess.run(
            [python, "-c", "import jupyterhub, jupyterhub_idle_culler, requests, tornado"], capture_output=True,
            timeout=60,
        ).returncode == 0:
            return python
    return None


def _proxy() -> str | None:
    for proxy in (os.environ.get("HUBTEST_PROXY"), str(PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"),
                  shutil.which("configurable-http-proxy")):
        if proxy and Path(proxy).exists():
            return proxy
    return None


def _why_not() -> str | None:
    if os.environ.get("COURSE_SKIP_HUBTEST", "") not in ("", "0"):
        return "COURSE_SKIP_HUBTEST is set"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the hub test needs root: it creates accounts and the hub switches to them (run `sudo make hubtest`)"
    if shutil.which("useradd") is None:
        return "useradd not found"
    if _hub_python() is None:
        return (f"jupyterhub and jupyterhub-idle-culler not installed in {PREFIX} (nor HUBTEST_PYTHON, nor on PATH): "
                "`make hubsetup` installs them")
    if _proxy() is None:
        return "configurable-http-proxy not found (npm install configurable-http-proxy; `make hubsetup` does it)"
    if not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file():
        return "Debian's dataset-fashion-mnist is not installed (the test's shared data folder copies it)"
    return None


@pytest.mark.slow
def test_a_class_on_one_hub(tmp_path):
    why = _why_not()
    if why:
        pytest.skip(why)
    out = REPO / "tests" / "artifacts" / "hubtest.json"
    out.parent.mkdir(exist_ok=True)
    result = subprocess.run(
        [_hub_python(), str(REPO / "hub" / "hubtest.py"), "--course-venv", str(Path(sys.executable).parent.parent),
         "--proxy", _proxy(), "--json", str(out), "--timeout", "900"],
        capture_output=True, text=True, timeout=1500, cwd=REPO,
    )
    assert out.is_file(), result.stderr[-4000:]
    report = json.loads(out.read_text())
    assert result.returncode == 0 and not report["failures"], (
        f"failed: {report['failures']}\n{result.stderr[-4000:]}\n{report.get('hub_log_tail', '')}"
    )
    assert all(check["ok"] for check in report["checks"].values())
    assert len(report["learners"]) >= 3 and all(r["ok"] for r in report["learners"].values())


# ------------------------------------------------- the configuration's own rules (no hub, no root needed)


def _load_config(tmp_path, monkeypatch, **env):
    from traitlets.config import Config

    for var in [v for v in os.environ if v.startswith("COURSE_HUB_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("COURSE_HUB_STATE_DIR", str(tmp_path / "state"))
    for key, value in env.items():
        monkeypatch.setenv(f"COURSE_HUB_{key}", value)
    c = Config()
    code = compile((REPO / "hub" / "jupyterhub_config.py").read_text(), "jupyterhub_config.py", "exec")
    exec(code, {"get_config": lambda: c, "__name__": "jupyterhub_config"})
    return c


def test_the_config_lets_in_only_the_listed_class_on_loopback(tmp_path, monkeypatch):
    c = _load_config(tmp_path, monkeypatch, ALLOWED_USERS="ana, ben", ADMIN_USERS="teacher", SPAWNER="local")
    assert c.JupyterHub.ip == "127.0.0.1" and c.JupyterHub.hub_ip == "127.0.0.1" and c.Spawner.ip == "127.0.0.1"
    assert c.Authenticator.allowed_users == {"ana", "ben"} and c.Authenticator.admin_users == {"teacher"}
    assert c.Authenticator.allow_all is False and c.JupyterHub.authenticator_class == "pam"
    assert c.Spawner.cmd[:3] == ["/bin/sh", "-c", 'umask 077 && exec "$0" "$@"']
    assert c.Spawner.args == ["--KernelManager.transport=ipc"]
    assert c.Spawner.mem_limit == "2G" and c.Spawner.cpu_limit == 1
    assert any("jupyterhub_idle_culler" in " ".join(s["command"]) for s in c.JupyterHub.services)
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"IP": "0.0.0.0", "ALLOWED_USERS": "ana"}, "plain HTTP"),
        ({"ALLOWED_USERS": ""}, "COURSE_HUB_ALLOWED_USERS"),
        ({"ALLOWED_USERS": "ana", "AUTH": "shared-password", "SHARED_PASSWORD": "short"}, "12 characters"),
        ({"ALLOWED_USERS": "ana", "AUTH": "dummy"}, "must be pam, native or shared-password"),
    ],
)
def test_the_config_refuses_unsafe_settings(tmp_path, monkeypatch, env, says):
    with pytest.raises(SystemExit, match=says):
        _load_config(tmp_path, monkeypatch, **env)


def test_https_off_loopback_through_a_certificate_or_a_declared_tls_proxy(tmp_path, monkeypatch):
    c = _load_config(tmp_path, monkeypatch, IP="0.0.0.0", ALLOWED_USERS="ana", SSL_CERT="/c.pem", SSL_KEY="/k.pem")
    assert c.JupyterHub.ssl_cert == "/c.pem" and c.JupyterHub.ssl_key == "/k.pem"
    c = _load_config(tmp_path, monkeypatch, IP="0.0.0.0", ALLOWED_USERS="ana", BEHIND_HTTPS_PROXY="1")
    assert c.JupyterHub.ip == "0.0.0.0"


def test_shared_password_warns_that_it_is_for_one_session(tmp_path, monkeypatch):
    with pytest.warns(UserWarning, match="single session"):
        c = _load_config(tmp_path, monkeypatch, ALLOWED_USERS="ana", AUTH="shared-password",
                         SHARED_PASSWORD="correct horse battery")
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == "correct horse battery"
