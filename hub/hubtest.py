"""The class-on-one-hub test: the shipped hub/jupyterhub_config.py, on 127.0.0.1, with real system accounts.

Run as root with a Python that has jupyterhub (``make hubtest``; tests/test_hub.py runs it under pytest):

    python hub/hubtest.py --course-venv .venv --proxy /path/to/configurable-http-proxy --json hubtest.json

What it does, each step bounded in time:

1. copies the course into a world-readable, root-owned folder and the data into a read-only one
   (Fashion-MNIST from Debian's dataset-fashion-mnist, MNIST's files where found; offline otherwise);
2. builds (once, then reuses) the learners' environment: a venv whose interpreter every account can run,
   seeing the course venv's packages, plus jupyterhub for jupyterhub-singleuser;
3. creates learner accounts (home 0755 as a default useradd leaves it) and one account that is not in the
   class, and starts JupyterHub with the shipped configuration plus a test service token;
4. checks: refused logins (wrong password, unknown name, an account outside the class); accepted logins;
   notebook 00 run through a learner's own server (kernel API over the proxy); isolation from inside a
   learner's kernel and over HTTP; an edited notebook kept across a stop and a start; then, with one
   shared data file damaged, every learner running notebook 00 at once (seconds and peak memory each);
5. stops the hub, ends the learners' processes by id, deletes the accounts and folders it made.

Prints one JSON object (also written to --json) with every figure; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "hub" / "jupyterhub_config.py"
NOTEBOOK = "weight-init-course/notebooks/00_setup_and_tour.ipynb"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
DAMAGED = "t10k-labels-idx1-ubyte.gz"
PREFIX = "hubt"  # every account this test makes starts with it, and is deleted at the end


def log(*args):
    print(f"[hubtest {time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listeners(port: int) -> list[str]:
    """Addresses listening on TCP ``port`` (from /proc/net/tcp and tcp6: no ss or netstat needed)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(addr)
                if len(raw) == 4:
                    found.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:  # four little-endian 32-bit words
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.append(socket.inet_ntop(socket.AF_INET6, words))
    return sorted(found)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=kw.pop("timeout", 600), **kw)


# ----------------------------------------------------------------- the learners' environment


def _executable_by_all(path: Path) -> bool:
    path = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


def _readable_by_all(folder: Path) -> bool:
    folder = folder.resolve()
    return _executable_by_all(folder) and bool(folder.stat().st_mode & stat.S_IROTH)


def learner_env(course_venv: Path, where: Path, jupyterhub_version: str) -> Path:
    """A venv that every account can run: the course venv's packages (a .pth) plus jupyterhub-singleuser."""
    info = json.loads(run([str(course_venv / "bin" / "python"), "-c",
                           "import sys, sysconfig, json; print(json.dumps({'base': sys._base_executable, "
                           "'v': '%d.%d' % sys.version_info[:2], 'site': sysconfig.get_paths()['purelib']}))"]).stdout)
    base = Path(info["base"])
    if not _executable_by_all(base):  # e.g. a pyenv Python under root's 0700 home
        base = Path(f"/usr/bin/python{info['v']}")
        if not base.is_file():
            raise SystemExit(f"no Python {info['v']} that learners can run (the course venv's is under a private folder)")
    site = Path(info["site"])
    if not _readable_by_all(site):  # e.g. a checkout under root's 0700 home: learners get a copy
        site = where / "course-site-packages"
    single = where / "bin" / "jupyterhub-singleuser"
    pth = where / "lib" / f"python{info['v']}" / "site-packages" / "zz-course-env.pth"
    line = f"import site; site.addsitedir({str(site)!r})\n"
    if not (single.is_file() and pth.is_file() and pth.read_text() == line and site.is_dir()):
        _build_learner_env(base, where, info["site"], site, pth, line, jupyterhub_version)
    # JupyterLab and the other server extensions are switched on, and find their assets, through the
    # environment's etc/jupyter and share/jupyter: the course venv's, linked (or copied, when private).
    for sub in ("etc/jupyter", "share/jupyter"):
        src, dest = course_venv.resolve() / sub, where / sub
        if src.is_dir() and not dest.is_symlink() and not (dest / ".from-course-venv").is_file():
            shutil.rmtree(dest, ignore_errors=True)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if _readable_by_all(src):
                dest.symlink_to(src)
            else:
                shutil.copytree(src, dest, symlinks=True)
                (dest / ".from-course-venv").write_text("")
    return single


def _build_learner_env(base, where, course_site, site, pth, line, jupyterhub_version):
    log(f"building the learners' environment in {where} (python {base}, course packages {site})")
    shutil.rmtree(where, ignore_errors=True)
    run([str(base), "-m", "venv", str(where)])
    if site != Path(course_site):
        shutil.copytree(course_site, site, symlinks=True)
    pth.write_text(line)
    run([str(where / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         f"jupyterhub=={jupyterhub_version}"], timeout=900)
    for p in [where, *where.rglob("*")]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if p.is_dir() or p.stat().st_mode & 0o100 else 0))


# ----------------------------------------------------------------- accounts and folders


MARK = "made by the course's hubtest"  # the GECOS field of every account this test makes


def make_user(name: str) -> str:
    run(["useradd", "-m", "-s", "/bin/bash", "-c", MARK, "-K", "HOME_MODE=0755", name])
    password = secrets.token_urlsafe(12)
    run(["chpasswd"], input=f"{name}:{password}\n")
    return password


def remove_user(name: str) -> None:
    """Delete an account this test made (never one it did not: the GECOS mark says which)."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return
    if account.pw_gecos != MARK:
        raise SystemExit(f"hubtest: the account {name} exists and was not made by this test; not touching it")
    for proc in Path("/proc").iterdir():  # what the hub started for this account and left behind
        try:
            if proc.name.isdigit() and proc.stat().st_uid == account.pw_uid:
                os.kill(int(proc.name), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError):
            pass
    subprocess.run(["userdel", "-r", name], capture_output=True, timeout=60)


def copy_course(dest: Path) -> None:
    dest.mkdir(parents=True)
    for part in ("course_utils", "notebooks", "hub"):
        shutil.copytree(REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / part, dest / part)
    (dest / "data").mkdir()
    shutil.copy(REPO / "data" / "README.md", dest / "data" / "README.md")


def fill_data(dest: Path) -> None:
    (dest / "fashion_mnist").mkdir(parents=True)
    for f in DEBIAN_FASHION.glob("*.gz"):
        shutil.copy(f, dest / "fashion_mnist" / f.name)
    if SHARED_MNIST.is_dir():
        (dest / "mnist").mkdir()
        for f in SHARED_MNIST.glob("*.gz"):
            shutil.copy(f, dest / "mnist" / f.name)


def root_owned_read_only(top: Path) -> None:
    for p in [top, *top.rglob("*")]:
        os.chown(p, 0, 0, follow_symlinks=False)
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)


def digest_tree(top: Path) -> dict[str, str]:
    return {str(p.relative_to(top)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(top.rglob("*"))
            if p.is_file()}


# ----------------------------------------------------------------- talking to the hub


class Hub:
    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.http = requests.Session()
        self.http.trust_env = False  # never through an HTTP(S)_PROXY: everything is on 127.0.0.1

    def api(self, method, path, token=None, **kw):
        headers = {"Authorization": f"token {token or self.token}"}
        return self.http.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kw)

    def login(self, name: str, password: str) -> int:
        """Status of a form login: 302 with a login cookie is in; anything else is refused."""
        s = requests.Session()
        s.trust_env = False
        s.get(f"{self.url}/hub/login", timeout=30)
        xsrf = s.cookies.get("_xsrf", "")
        r = s.post(f"{self.url}/hub/login", data={"username": name, "password": password, "_xsrf": xsrf},
                   allow_redirects=False, timeout=60)
        return r.status_code if r.status_code != 302 or any("hub-login" in c for c in s.cookies.keys()) else -302

    def wait(self, name: str, ready: bool, timeout: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            r = self.api("GET", f"/users/{name}")
            server = r.json().get("servers", {}).get("", {})
            if bool(server.get("ready")) == ready and not server.get("pending"):
                return time.monotonic() - start
            time.sleep(0.5)
        raise TimeoutError(f"{name}'s server did not become {'ready' if ready else 'stopped'} in {timeout} s")

    def start(self, name: str, timeout: float = 180) -> float:
        """Seconds from the request to a ready server (the hub answers within 10 s, then we poll)."""
        t = time.monotonic()
        r = self.api("POST", f"/users/{name}/server")
        if r.status_code not in (201, 202, 400):  # 400: already running
            raise RuntimeError(f"starting {name}'s server: {r.status_code} {r.text[:300]}")
        self.wait(name, True, timeout)
        return time.monotonic() - t

    def stop(self, name: str, timeout: float = 90) -> float:
        t = time.monotonic()
        r = self.api("DELETE", f"/users/{name}/server")
        if r.status_code not in (202, 204):
            raise RuntimeError(f"stopping {name}'s server: {r.status_code} {r.text[:300]}")
        self.wait(name, False, timeout)
        return time.monotonic() - t

    def user_token(self, name: str) -> str:
        r = self.api("POST", f"/users/{name}/tokens", json={"note": "hubtest", "expires_in": 3600})
        r.raise_for_status()
        return r.json()["token"]

    def server(self, method, name, path, token, **kw):
        return self.http.request(method, f"{self.url}/user/{name}/api{path}",
                                 headers={"Authorization": f"token {token}"}, timeout=60, allow_redirects=False, **kw)


def execute(hub: Hub, name: str, token: str, cells: list[str], cwd: str, timeout: float) -> dict:
    """Run ``cells`` in a fresh kernel of ``name``'s server (kernel REST API + its websocket); bounded in time."""

    async def go():
        r = hub.server("POST", name, "/kernels", token, json={"name": "python3", "path": cwd})
        r.raise_for_status()
        kernel = r.json()["id"]
        ws_url = hub.url.replace("http://", "ws://") + f"/user/{name}/api/kernels/{kernel}/channels"
        ws = await asyncio.wait_for(websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {token}"})),
                                    30)
        session, out, deadline = uuid.uuid4().hex, {"stdout": "", "stderr": "", "error": None}, time.monotonic() + timeout
        try:
            for i, code in enumerate(cells):
                msg_id = uuid.uuid4().hex
                await ws.write_message(json.dumps({
                    "header": {"msg_id": msg_id, "username": name, "session": session, "msg_type": "execute_request",
                               "version": "5.3", "date": datetime.datetime.now(datetime.UTC).isoformat()},
                    "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                    "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                                "allow_stdin": False, "stop_on_error": True},
                }))
                replied = idle = False
                while not (replied and idle):
                    raw = await asyncio.wait_for(ws.read_message(), max(1.0, deadline - time.monotonic()))
                    if raw is None:
                        raise RuntimeError(f"{name}'s kernel connection closed in cell {i}")
                    if isinstance(raw, bytes):
                        continue
                    m = json.loads(raw)
                    if m.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind, content = m["msg_type"], m["content"]
                    if kind == "stream":
                        out[content["name"]] += content["text"]
                    elif kind == "error":
                        out["error"] = f"cell {i}: {content['ename']}: {content['evalue']}"
                    elif kind == "execute_reply":
                        replied = True
                    elif kind == "status" and content["execution_state"] == "idle":
                        idle = True
                if out["error"]:
                    break
        finally:
            ws.close()
            hub.server("DELETE", name, f"/kernels/{kernel}", token)
        return out

    return asyncio.run(go())


PEAK_CELL = "import resource; print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def run_notebook(hub: Hub, name: str, token: str, timeout: float) -> dict:
    """Notebook 00 as the learner's server has it (their copy), then the kernel's peak memory."""
    r = hub.server("GET", name, f"/contents/{NOTEBOOK}", token)
    r.raise_for_status()
    cells = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
             for c in r.json()["content"]["cells"] if c["cell_type"] == "code"]
    start = time.monotonic()
    out = execute(hub, name, token, [*cells, PEAK_CELL], cwd=str(Path(NOTEBOOK).parent), timeout=timeout)
    seconds = time.monotonic() - start
    peak = re.search(r"PEAK_KB (\d+)", out["stdout"])
    damaged = [line for line in out["stderr"].splitlines() if "is damaged" in line]
    return {"data": dict(re.findall(r"^\s*(\w+): train .*?, from (.*)$", out["stdout"], re.M)),
            "damaged_message": damaged[0].split("DataCacheWarning: ")[-1] if damaged else None,"ok": out["error"] is None and peak is not None, "error": out["error"], "seconds": round(seconds, 1),
            "peak_mb": round(int(peak.group(1)) / 1024) if peak else None, "cells": len(cells),
            "damaged_messages": out["stderr"].count("is damaged"),
            "stderr_tail": out["stderr"][-1500:] if out["error"] else ""}


ISOLATION_CELL = """
import json, os, stat
from course_utils import experiments
other, data, course = {other_home!r}, os.environ["COURSE_DATA_DIR"], os.environ["PYTHONPATH"]
res = {{}}
def attempt(what, fn):
    try:
        fn()
        res[what] = "ALLOWED"
    except PermissionError:
        res[what] = "denied"
    except Exception as err:
        res[what] = f"{{type(err).__name__}}: {{err}}"
attempt("read the other learner's notebook", lambda: open(other + "/{notebook}").read())
attempt("list the other learner's home", lambda: os.listdir(other))
attempt("create a file in the shared data folder", lambda: open(data + "/fashion_mnist/new", "w").close())
attempt("overwrite a shared data file", lambda: open(data + "/fashion_mnist/{damaged}", "r+b").close())
attempt("rename a shared data file", lambda: os.rename(data + "/fashion_mnist/{damaged}", data + "/x"))
attempt("write into the course", lambda: open(course + "/course_utils/new.py", "w").close())
probe = os.path.expanduser("~/umask-probe")
open(probe, "w").close()
res["mode of a new file"] = oct(stat.S_IMODE(os.stat(probe).st_mode))
os.remove(probe)
res["mode of the home"] = oct(stat.S_IMODE(os.stat(os.path.expanduser("~")).st_mode))
res["experiment cache"] = str(experiments._cache_folder())
from ipykernel.kernelapp import IPKernelApp
res["kernel transport"] = IPKernelApp.instance().transport
print("ISOLATION", json.dumps(res))
"""


# ----------------------------------------------------------------- the test


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--course-venv", type=Path, default=REPO / ".venv")
    ap.add_argument("--proxy", default=shutil.which("configurable-http-proxy"))
    ap.add_argument("--learner-env", type=Path, default=Path("/opt/course-hub-learner-env"))
    ap.add_argument("--learners", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--timeout", type=float, default=900, help="seconds for the whole test")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("hubtest: run as root (it creates accounts and the hub switches to them)")
    if not args.proxy or not Path(args.proxy).exists():
        raise SystemExit("hubtest: configurable-http-proxy not found: npm install configurable-http-proxy; pass --proxy")
    if not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file():
        raise SystemExit("hubtest: Debian's dataset-fashion-mnist is not installed (the shared data folder copies it)")
    import jupyterhub

    t0 = time.monotonic()
    deadline = t0 + args.timeout
    report: dict = {"checks": {}, "learners": {}}
    failures: list[str] = []

    def check(what: str, ok: bool, detail=None):
        report["checks"][what] = {"ok": bool(ok), **({"detail": detail} if detail is not None else {})}
        log(("PASS " if ok else "FAIL ") + what + (f": {detail}" if detail is not None and not ok else ""))
        if not ok:
            failures.append(what)

    learners = [f"{PREFIX}{chr(ord('a') + i)}" for i in range(args.learners)]
    outsider, admin = f"{PREFIX}out", f"{PREFIX}admin"
    for name in [*learners, outsider, admin]:
        try:
            if pwd.getpwnam(name).pw_gecos != MARK:
                raise SystemExit(f"hubtest: the account {name} exists and was not made by this test; not touching it")
        except KeyError:
            pass
    top = Path(tempfile.mkdtemp(prefix="course-hubtest-", dir="/srv" if Path("/srv").is_dir() else None))
    top.chmod(0o755)
    course, data, state = top / "course", top / "data", top / "state"
    hub_proc = None
    try:
        single = learner_env(args.course_venv.absolute(), args.learner_env, jupyterhub.__version__)
        copy_course(course)
        fill_data(data)
        root_owned_read_only(course)
        root_owned_read_only(data)
        data_before = digest_tree(data)
        passwords = {}
        for name in [*learners, outsider, admin]:
            remove_user(name)  # left over from an interrupted run
            passwords[name] = make_user(name)

        service_token = secrets.token_hex(32)
        ports = {"public": free_port(), "hub": free_port(), "proxy": free_port()}
        test_config = top / "hubtest_config.py"
        test_config.write_text(
            f"load_subconfig({str(course / 'hub' / 'jupyterhub_config.py')!r})\n"
            "import os\n"
            "c.JupyterHub.services.append({'name': 'hubtest', 'api_token': os.environ['HUBTEST_TOKEN']})\n"
            "c.JupyterHub.load_roles.append({'name': 'hubtest', 'services': ['hubtest'], 'scopes': "
            "['admin:users', 'admin:servers', 'tokens', 'list:users', 'read:users', 'read:services']})\n"
        )
        test_config.chmod(0o600)
        hub_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "JUPYTER", "PYTHON"))},
            "HUBTEST_TOKEN": service_token,
            "COURSE_HUB_COURSE_DIR": str(course),
            "COURSE_HUB_DATA_DIR": str(data),
            "COURSE_HUB_SINGLEUSER": str(single),
            "COURSE_HUB_STATE_DIR": str(state),
            "COURSE_HUB_PORT": str(ports["public"]),
            "COURSE_HUB_HUB_PORT": str(ports["hub"]),
            "COURSE_HUB_PROXY_API_PORT": str(ports["proxy"]),
            "COURSE_HUB_PROXY_CMD": str(args.proxy),
            "COURSE_HUB_ALLOWED_USERS": ",".join(learners),
            "COURSE_HUB_ADMIN_USERS": admin,
            "COURSE_HUB_SPAWNER": "local",
            "COURSE_HUB_CULL_TIMEOUT": "3600",
            "COURSE_DATA_OFFLINE": "1",  # the test uses no network; MNIST comes from the files or the fallback
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(32),
        }
        hub_log = open(top / "jupyterhub.log", "w")
        hub_proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f", str(test_config)],
                                    cwd=top, env=hub_env, stdout=hub_log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        hub = Hub(f"http://127.0.0.1:{ports['public']}", service_token)
        t_hub = time.monotonic()
        while True:
            if hub_proc.poll() is not None:
                raise RuntimeError("the hub exited:\n" + (top / "jupyterhub.log").read_text()[-3000:])
            try:
                if hub.api("GET", "/").status_code == 200 and hub.api("GET", "/users").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() - t_hub > 90:
                raise TimeoutError("the hub did not answer in 90 s")
            time.sleep(0.5)
        report["hub_start_s"] = round(time.monotonic() - t_hub, 1)
        culler = hub.api("GET", "/services/idle-culler")
        check("the idle culler runs", culler.status_code == 200 and bool(culler.json().get("pid")),
              (culler.status_code, culler.text[:200]))
        public = listeners(ports["public"])
        check("the hub listens on 127.0.0.1 only", public == ["127.0.0.1"], public)

        # ---- who gets in
        refused = {
            "wrong password": hub.login(learners[0], passwords[learners[0]] + "x"),
            "unknown name": hub.login(f"{PREFIX}nobody", "whatever-password"),
            "account outside the class, right password": hub.login(outsider, passwords[outsider]),
            "empty password": hub.login(learners[1], ""),
        }
        report["logins_refused"] = refused
        check("wrong-password, unknown and outside logins are refused", all(s == 403 for s in refused.values()),
              refused)
        accepted = {n: hub.login(n, passwords[n]) for n in [*learners, admin]}
        report["logins_accepted"] = accepted
        check("every learner and the admin log in with their password", all(s == 302 for s in accepted.values()),
              accepted)

        # ---- one learner opens the course and runs notebook 00
        tokens = {n: hub.user_token(n) for n in learners}
        a, b = learners[0], learners[1]
        report["server_start_s"] = {a: round(hub.start(a), 1)}
        home_a, home_b = (Path(pwd.getpwnam(n).pw_dir) for n in (a, b))
        check("the learner's home is 0700 once their server started", stat.S_IMODE(home_a.stat().st_mode) == 0o700,
              oct(stat.S_IMODE(home_a.stat().st_mode)))
        r = hub.server("GET", a, f"/contents/{NOTEBOOK}", tokens[a])
        lab = hub.http.get(f"{hub.url}/user/{a}/lab/tree/{NOTEBOOK}", headers={"Authorization": f"token {tokens[a]}"},
                           timeout=60, allow_redirects=False)
        check("the learner's server opens the course (JupyterLab at notebook 00, in their home)",
              r.status_code == 200 and lab.status_code == 200 and "JupyterLab" in lab.text,
              (r.status_code, lab.status_code))
        alone = run_notebook(hub, a, tokens[a], timeout=max(60.0, deadline - time.monotonic()))
        report["notebook_00_alone"] = {a: alone}
        check("notebook 00 runs on the learner's server (quick profile)", alone["ok"], alone)

        # ---- isolation
        report["server_start_s"][b] = round(hub.start(b), 1)
        out = execute(hub, a, tokens[a], [ISOLATION_CELL.format(other_home=str(home_b), notebook=NOTEBOOK,
                                                                damaged=DAMAGED)], cwd="", timeout=120)
        m = re.search(r"ISOLATION (.*)", out["stdout"])
        iso = json.loads(m.group(1)) if m else {"error": out}
        report["isolation_in_kernel"] = iso
        denied = [k for k in iso if k.startswith(("read", "list", "create", "overwrite", "rename", "write"))]
        check("a learner cannot read another learner's home or notebooks",
              iso.get("read the other learner's notebook") == "denied"
              and iso.get("list the other learner's home") == "denied", iso)
        check("a learner cannot write, overwrite or rename in the shared data folder, nor change the course",
              all(iso.get(k) == "denied" for k in denied if not k.startswith(("read", "list"))), iso)
        check("files a learner's server creates are private (umask 077)", iso.get("mode of a new file") == "0o600", iso)
        own_cache = str(home_a / ".cache" / "course_utils" / "experiments")
        check("the experiment cache is the learner's own", iso.get("experiment cache") == own_cache, iso)
        check("kernels use Unix sockets in the learner's home, no TCP ports", iso.get("kernel transport") == "ipc", iso)
        http = {
            "A's token on B's server": hub.server("GET", b, "/contents", tokens[a]).status_code,
            "A's token on B's hub record": hub.api("GET", f"/users/{b}", token=tokens[a]).status_code,
            "no token on B's server": hub.http.get(f"{hub.url}/user/{b}/api/contents", timeout=30,
                                                   allow_redirects=False).status_code,
        }
        report["isolation_http"] = http
        check("one learner's token opens nothing of another's (HTTP)", all(s in (302, 403, 404) for s in http.values()),
              http)

        # ---- an edited notebook survives a stop and a start
        nb = hub.server("GET", a, f"/contents/{NOTEBOOK}", tokens[a]).json()
        marker = f"edited by {a} {uuid.uuid4().hex[:8]}"
        nb["content"]["cells"].insert(0, {"cell_type": "markdown", "id": uuid.uuid4().hex[:8], "metadata": {},
                                          "source": marker})
        r = hub.server("PUT", a, f"/contents/{NOTEBOOK}", tokens[a],
                       json={"type": "notebook", "format": "json", "content": nb["content"]})
        check("the learner saves an edited notebook", r.status_code == 200, r.status_code)
        report["restart_s"] = {"stop": round(hub.stop(a), 1), "start": round(hub.start(a), 1)}
        again = hub.server("GET", a, f"/contents/{NOTEBOOK}", tokens[a]).json()
        check("the edit is still there after the server was stopped and started",
              again["content"]["cells"][0]["source"] == marker, again["content"]["cells"][0]["source"][:80])

        # ---- a damaged shared file, and every learner at once
        damaged = data / "fashion_mnist" / DAMAGED
        good = damaged.read_bytes()
        damaged.write_bytes(good[:-100] + bytes(100))  # a disk error: right size, wrong tail
        data_damaged = digest_tree(data)
        for n in learners[2:]:
            report["server_start_s"][n] = round(hub.start(n), 1)
        results: dict[str, dict] = {}

        def one(n):
            try:
                results[n] = run_notebook(hub, n, tokens[n], timeout=max(60.0, deadline - time.monotonic()))
            except Exception as err:  # noqa: BLE001 - reported as this learner's failure
                results[n] = {"ok": False, "error": f"{type(err).__name__}: {err}"}

        t_all = time.monotonic()
        threads = [threading.Thread(target=one, args=(n,)) for n in learners]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic()))
        report["together_wall_s"] = round(time.monotonic() - t_all, 1)
        report["learners"] = results
        check(f"{len(learners)} learners run notebook 00 at once, with a damaged shared data file, and all finish",
              all(results.get(n, {}).get("ok") for n in learners), results)
        check("each learner is told once that the shared file is damaged",
              all(results.get(n, {}).get("damaged_messages") == 1 for n in learners),
              {n: results.get(n, {}).get("damaged_messages") for n in learners})
        check("the shared data folder is unchanged (the damaged file neither deleted nor rewritten)",
              digest_tree(data) == data_damaged)
        damaged.write_bytes(good)
        check("the shared data folder is as it was given", digest_tree(data) == data_before)
    except Exception as err:  # noqa: BLE001 - one failure, reported with the hub's log
        failures.append(f"{type(err).__name__}: {err}")
        log("ERROR", f"{type(err).__name__}: {err}")
        if (top / "jupyterhub.log").is_file():
            report["hub_log_tail"] = (top / "jupyterhub.log").read_text()[-4000:]
    finally:
        if hub_proc is not None and hub_proc.poll() is None:
            hub_proc.send_signal(signal.SIGTERM)  # the hub stops the learners' servers and its proxy
            try:
                hub_proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(hub_proc.pid, signal.SIGKILL)  # the group this test started
        if args.json and (top / "jupyterhub.log").is_file():
            shutil.copy(top / "jupyterhub.log", args.json.with_suffix(".log"))
        for name in [*learners, outsider, admin]:
            remove_user(name)
        shutil.rmtree(top, ignore_errors=True)
    report["failures"] = failures
    report["total_s"] = round(time.monotonic() - t0, 1)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
