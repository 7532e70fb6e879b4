# JupyterHub configuration for one class on one machine: plain JupyterHub, real system accounts.
#
#   sudo COURSE_HUB_ALLOWED_USERS=ana,ben COURSE_HUB_ADMIN_USERS=teacher \
#        /opt/course-hub/bin/jupyterhub -f /srv/course/hub/jupyterhub_config.py
#
# Tested end to end on 127.0.0.1 by `make hubtest` (hub/hubtest.py; figures in docs/instructors.md).
# Every setting below can be changed with the COURSE_HUB_* variable named next to it, so the tested file is
# the file you run. What this file guarantees, and where:
#
# * Only the class gets in: an explicit allowed-users list (nobody else, not even other accounts of the
#   machine with a correct password), admins named. PAM checks the passwords (the hub runs as root).
# * Learners kept apart: each learner's server runs as their own account; their home is made 0700 before
#   every start and their server runs with umask 077, so no learner can read another's home or notebooks;
#   kernels use Unix sockets in that home (not loopback TCP ports other accounts could read outputs from).
#   The course (COURSE_HUB_COURSE_DIR) and its data (COURSE_HUB_DATA_DIR) are root's, read-only to learners:
#   a learner cannot change them for the others. A damaged shared data file is reported to the learner
#   and worked around (course_utils.data), never deleted or rewritten.
# * HTTPS: required on anything but loopback. This file refuses to listen on another address unless
#   COURSE_HUB_SSL_CERT/COURSE_HUB_SSL_KEY are given or COURSE_HUB_BEHIND_HTTPS_PROXY=1 says that a TLS
#   proxy (nginx, Caddy, TLJH's Traefik with Let's Encrypt, a Kubernetes ingress) sits in front.
# * Limits: 2 GB memory and 1 CPU per learner (COURSE_HUB_MEM_LIMIT, COURSE_HUB_CPU_LIMIT). ENFORCED only
#   with SystemdSpawner (cgroups: MemoryMax, CPUQuota; chosen automatically when systemd runs and
#   jupyterhub-systemdspawner is installed). With LocalProcessSpawner (containers, machines without systemd)
#   the limits are advisory: they are passed to the server (MEM_LIMIT, CPU_LIMIT, shown by
#   jupyter-resource-usage) and the frameworks are held to COURSE_THREADS threads, but a learner's kernel
#   can still take more memory; budget the machine for it (docs/instructors.md).
# * Idle servers are stopped after COURSE_HUB_CULL_TIMEOUT seconds (default 1 hour) by jupyterhub-idle-culler.

import os
import pwd
import shutil
import sys
import warnings
from pathlib import Path

c = get_config()  # noqa: F821 - JupyterHub provides get_config


def env(name, default=""):
    return os.environ.get(name, default).strip()


def names(var):
    return {n.strip() for n in env(var).replace(",", " ").split() if n.strip()}


COURSE_DIR = Path(env("COURSE_HUB_COURSE_DIR", "/srv/course"))
DATA_DIR = env("COURSE_HUB_DATA_DIR", "/srv/course-data")
# An environment with the course's packages (pip install -e /srv/course, torch from the CPU index) and jupyterhub.
SINGLEUSER = env("COURSE_HUB_SINGLEUSER", "/opt/course-env/bin/jupyterhub-singleuser")
STATE_DIR = Path(env("COURSE_HUB_STATE_DIR", "/srv/jupyterhub"))
IP = env("COURSE_HUB_IP", "127.0.0.1")
PORT = int(env("COURSE_HUB_PORT", "8000"))
LOOPBACK = IP in ("127.0.0.1", "::1", "localhost")

# ------------------------------------------------------------------ network and HTTPS

c.JupyterHub.ip = IP
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "127.0.0.1"  # the hub's own API and the proxy's API stay on loopback
c.JupyterHub.hub_port = int(env("COURSE_HUB_HUB_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('COURSE_HUB_PROXY_API_PORT', '8001')}"
if env("COURSE_HUB_PROXY_CMD"):
    c.ConfigurableHTTPProxy.command = [env("COURSE_HUB_PROXY_CMD")]
c.Spawner.ip = "127.0.0.1"  # learners' servers are reached only through the proxy

if env("COURSE_HUB_SSL_CERT"):
    c.JupyterHub.ssl_cert = env("COURSE_HUB_SSL_CERT")
    c.JupyterHub.ssl_key = env("COURSE_HUB_SSL_KEY")
elif not LOOPBACK and env("COURSE_HUB_BEHIND_HTTPS_PROXY") != "1":
    sys.exit(
        f"jupyterhub_config.py: refusing to serve passwords over plain HTTP on {IP}. Give COURSE_HUB_SSL_CERT and "
        "COURSE_HUB_SSL_KEY (e.g. from Let's Encrypt), or put a TLS proxy in front and set "
        "COURSE_HUB_BEHIND_HTTPS_PROXY=1. Only 127.0.0.1 may be served without HTTPS."
    )

STATE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
c.JupyterHub.db_url = f"sqlite:///{STATE_DIR / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE_DIR / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(STATE_DIR / "jupyterhub-proxy.pid")

# ------------------------------------------------------------------ who gets in

AUTH = env("COURSE_HUB_AUTH", "pam")
ALLOWED, ADMINS = names("COURSE_HUB_ALLOWED_USERS"), names("COURSE_HUB_ADMIN_USERS")
if AUTH == "pam":
    # System accounts and their passwords. Make accounts with: useradd -m -K HOME_MODE=0700 <name>; passwd <name>.
    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.open_sessions = False  # no PAM session modules needed (they fail in containers)
elif AUTH == "native":
    # Sign-up with admin approval (pip install jupyterhub-nativeauthenticator) and its own passwords. Servers
    # still run as system accounts of the same names: create them (useradd -m -K HOME_MODE=0700 <name>).
    c.JupyterHub.authenticator_class = "native"
    c.NativeAuthenticator.open_signup = False  # an admin approves each sign-up at /hub/authorize
elif AUTH == "shared-password":
    # ONE SESSION ONLY (a workshop of a few hours, on a hub that is torn down afterwards): every allowed
    # name logs in with the same password. Anyone who learns it can log in as any listed learner.
    # Servers still run as system accounts of the listed names (useradd, no password needed).
    password = env("COURSE_HUB_SHARED_PASSWORD")
    if len(password) < 12:
        sys.exit("jupyterhub_config.py: COURSE_HUB_SHARED_PASSWORD must be set, 12 characters or more.")
    warnings.warn(
        "COURSE_HUB_AUTH=shared-password: one password for the whole class. Use it for a single session "
        "and tear the hub down afterwards; use PAM or NativeAuthenticator for anything longer.",
        stacklevel=1,
    )
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = password
else:
    sys.exit(f"jupyterhub_config.py: COURSE_HUB_AUTH must be pam, native or shared-password; got {AUTH!r}.")

if not ALLOWED and not ADMINS:
    sys.exit("jupyterhub_config.py: set COURSE_HUB_ALLOWED_USERS (the class) and COURSE_HUB_ADMIN_USERS.")
c.Authenticator.allowed_users = ALLOWED
c.Authenticator.admin_users = ADMINS  # admins are allowed too
c.Authenticator.allow_all = False
c.Authenticator.allow_existing_users = False  # users added in the admin page do not outlive this list
c.JupyterHub.admin_access = False  # admins manage servers but cannot open learners' notebooks

# ------------------------------------------------------------------ each learner's server

SPAWNER = env("COURSE_HUB_SPAWNER", "auto")
if SPAWNER == "auto":
    try:
        import systemdspawner  # noqa: F401

        SPAWNER = "systemd" if Path("/run/systemd/system").is_dir() else "local"
    except ImportError:
        SPAWNER = "local"
MEM_LIMIT, CPU_LIMIT = env("COURSE_HUB_MEM_LIMIT", "2G"), float(env("COURSE_HUB_CPU_LIMIT", "1"))
c.Spawner.mem_limit = MEM_LIMIT
c.Spawner.cpu_limit = CPU_LIMIT
if SPAWNER == "systemd":
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.isolate_tmp = True  # a private /tmp per learner
    c.SystemdSpawner.isolate_devices = True
    c.SystemdSpawner.unit_extra_properties = {"UMask": "0077"}
else:
    c.JupyterHub.spawner_class = "localprocess"
    print(
        f"jupyterhub_config.py: LocalProcessSpawner: mem_limit={MEM_LIMIT} and cpu_limit={CPU_LIMIT:g} are NOT "
        "enforced (install jupyterhub-systemdspawner on a systemd machine to enforce them)",
        file=sys.stderr,
    )

# umask 077 for the server and its kernels: what a learner creates is theirs alone.
c.Spawner.cmd = ["/bin/sh", "-c", 'umask 077 && exec "$0" "$@"', SINGLEUSER]
# Kernels talk to the server over Unix sockets in the learner's private runtime folder, not TCP ports on
# 127.0.0.1 that any account of the machine could connect to and read a kernel's outputs from.
c.Spawner.args = ["--KernelManager.transport=ipc"]
c.Spawner.default_url = env("COURSE_HUB_DEFAULT_URL", "/lab/tree/weight-init-course/notebooks/00_setup_and_tour.ipynb")
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90


def _course_env(spawner):
    home = pwd.getpwnam(spawner.user.name).pw_dir
    return {
        "PYTHONPATH": str(COURSE_DIR),  # import course_utils from the read-only course
        "COURSE_DATA_DIR": DATA_DIR,
        "COURSE_CACHE_DIR": f"{home}/.cache/course_utils",  # experiment results: per learner
        "COURSE_PROFILE": env("COURSE_HUB_PROFILE", "quick"),
        "COURSE_THREADS": str(max(1, int(CPU_LIMIT))),
        "COURSE_PROGRESS": "0",
        "MALLOC_ARENA_MAX": "2",  # less memory held per kernel (measured in start)
        "MEM_LIMIT": str(MEM_LIMIT),
    }


c.Spawner.environment = {
    key: (lambda spawner, key=key: _course_env(spawner)[key])
    for key in ("PYTHONPATH", "COURSE_DATA_DIR", "COURSE_CACHE_DIR", "COURSE_PROFILE", "COURSE_THREADS",
                "COURSE_PROGRESS", "MALLOC_ARENA_MAX", "MEM_LIMIT")
}
for passthrough in ("COURSE_DATA_OFFLINE", "COURSE_DATA_MIRRORS", "TF_CPP_MIN_LOG_LEVEL"):
    if env(passthrough):
        c.Spawner.environment[passthrough] = env(passthrough)


def _prepare_home(spawner):
    """As root, before every start: the home private (0700), and the course's notebooks copied in once.

    The learner's copy is never overwritten: edits survive restarts (nbgitpuller does the same on TLJH/Z2JH).
    """
    account = pwd.getpwnam(spawner.user.name)
    home = Path(account.pw_dir)
    home.mkdir(mode=0o700, exist_ok=True)
    os.chown(home, account.pw_uid, account.pw_gid)
    os.chmod(home, 0o700)
    target = home / "weight-init-course" / "notebooks"
    if not target.exists() and (COURSE_DIR / "notebooks").is_dir():
        shutil.copytree(COURSE_DIR / "notebooks", target)
        for path in [target.parent, *target.parent.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
            os.chmod(path, 0o700 if path.is_dir() else 0o600)


c.Spawner.pre_spawn_hook = _prepare_home

# ------------------------------------------------------------------ idle servers

CULL_TIMEOUT = int(env("COURSE_HUB_CULL_TIMEOUT", "3600"))
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={CULL_TIMEOUT}",
                    f"--cull-every={max(60, CULL_TIMEOUT // 6)}"],
    }
]
