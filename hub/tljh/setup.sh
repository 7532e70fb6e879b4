#!/usr/bin/env bash
# The Littlest JupyterHub (TLJH) equivalent of hub/jupyterhub_config.py: run as root on the hub machine,
# after TLJH's installer (https://tljh.jupyter.org, e.g. `curl -L https://tljh.jupyter.org/bootstrap.py |
# sudo python3 - --admin teacher`), with the course checked out in /srv/course.
# Edit the names and the domain first. Not run by the course's tests (TLJH needs a whole machine with systemd);
# hub/jupyterhub_config.py, which it mirrors, is (make hubtest).
set -euo pipefail
COURSE=/srv/course DATA=/srv/course-data DOMAIN=hub.example.org EMAIL=teacher@example.org

# Who gets in: NativeAuthenticator (learners sign up, an admin approves at /hub/authorize), only listed names.
/opt/tljh/hub/bin/python3 -m pip install jupyterhub-nativeauthenticator
tljh-config set auth.type nativeauthenticator.NativeAuthenticator
tljh-config set auth.NativeAuthenticator.open_signup false
tljh-config add-item users.admin teacher
for learner in ana ben chloe; do tljh-config add-item users.allowed "$learner"; done

# HTTPS (required: passwords cross the network): Let's Encrypt through TLJH's Traefik.
tljh-config set https.enabled true
tljh-config set https.letsencrypt.email "$EMAIL"
tljh-config add-item https.letsencrypt.domains "$DOMAIN"

# Per-learner limits, ENFORCED: TLJH runs each server with SystemdSpawner (cgroups MemoryMax and CPUQuota).
tljh-config set limits.memory 2G
tljh-config set limits.cpu 1

# Idle servers stopped after an hour (TLJH's jupyterhub-idle-culler service).
tljh-config set services.cull.enabled true
tljh-config set services.cull.timeout 3600
tljh-config set services.cull.every 600

tljh-config set user_environment.default_app jupyterlab

# The course's packages in the learners' environment: PyTorch's small CPU build first, then the course.
/opt/tljh/user/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
/opt/tljh/user/bin/pip install -e "$COURSE"

# The shared data, owned by root and read-only to learners (TLJH's accounts are jupyter-<name>).
/opt/tljh/user/bin/python -m course_utils.data download mnist fashion_mnist --data-dir "$DATA"
chown -R root:root "$COURSE" "$DATA" && chmod -R u=rwX,go=rX "$COURSE" "$DATA"

# New accounts private from their first login (TLJH creates jupyter-<name> with useradd).
if grep -q '^HOME_MODE' /etc/login.defs; then sed -i 's/^HOME_MODE.*/HOME_MODE\t0700/' /etc/login.defs
else echo 'HOME_MODE 0700' >> /etc/login.defs; fi

# Private homes, umask 077, the course's settings: hub/tljh/course_hub.py as a config snippet.
install -m 0644 "$COURSE/hub/tljh/course_hub.py" /opt/tljh/config/jupyterhub_config.d/course_hub.py

tljh-config reload proxy
tljh-config reload hub
