# TLJH config snippet: copy to /opt/tljh/config/jupyterhub_config.d/ (hub/tljh/setup.sh does), then
# `sudo tljh-config reload hub`. The same rules as hub/jupyterhub_config.py, for TLJH's SystemdSpawner.
import os
import pwd

c.SystemdSpawner.unit_extra_properties = {"UMask": "0077"}  # noqa: F821 - what a learner creates is theirs alone
c.SystemdSpawner.isolate_tmp = True  # noqa: F821 - a private /tmp per learner
c.Spawner.environment.update(  # noqa: F821
    {
        "COURSE_DATA_DIR": "/srv/course-data",  # root's, read-only to learners
        "COURSE_PROFILE": "quick",
        "COURSE_THREADS": "1",
        "COURSE_PROGRESS": "0",
        "MALLOC_ARENA_MAX": "2",
    }
)


def _private_home(spawner):
    """Each learner's home readable by that learner alone (TLJH makes it with the system's default mode)."""
    home = pwd.getpwnam(f"jupyter-{spawner.user.name}").pw_dir
    if os.path.isdir(home):
        os.chmod(home, 0o700)


c.Spawner.pre_spawn_hook = _private_home  # noqa: F821
