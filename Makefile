# The course's commands. Each target sets up what it needs on a fresh machine.
#   make lab    install everything into .venv, register the kernel, add any new notebook to the learner's own
#               copy my-notebooks/ (the student edition: exercises to do; nothing in it is ever overwritten)
#               and open JupyterLab there at notebook 00
#   make lab-instructor   the same, opened on notebooks/ (the instructor edition, with the solutions)
#   make test   same set-up, then the unit tests and every notebook under nbval (quick profile)
#   make hubtest  (as root) the class's JupyterHub configuration, tested on 127.0.0.1 with real accounts

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KERNEL := weight-init-course
# The learner's own copy of the notebooks (git-ignored); tools/editions.py adds to it, never overwrites.
LEARNER := my-notebooks
LAB_ARGS ?=
PYTEST_ARGS ?=
# Tests and CI run every experiment small; learners get the full size by default.
# Two pytest workers, one framework thread each: a notebook's cells stay on one worker (--dist loadfile).
TEST_ENV := COURSE_PROFILE=quick COURSE_CHECK_STRICT=1 COURSE_THREADS=1 MPLBACKEND=Agg TF_CPP_MIN_LOG_LEVEL=3 PYTHONHASHSEED=0
TEST_WORKERS ?= 2
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=600 --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: setup datacheck lab lab-instructor lab-settings learner test unit notebooks bench cpu memcheck lint clean book student-branch \
	student hubsetup hubtest

setup: $(STAMP) lab-settings learner

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned: on this machine pip takes the local CPU wheel; elsewhere see README.
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --user --name $(KERNEL) --display-name "Python (weight-init course)" >/dev/null
	touch $(STAMP)

# The data first: a machine without a dataset (and no way to download it) stops here with one message
# that says how to get it. ALLOW_MISSING_DATA=1 reports it and goes on; the tests then skip what needs it.
ALLOW_MISSING_DATA ?=
datacheck: setup
	$(PY) -m course_utils.data check $(if $(ALLOW_MISSING_DATA),--allow-missing)

# The course's JupyterLab settings (lab/overrides.json: save widget state with the notebook, no news
# prompt) into this environment's JupyterLab; Binder's postBuild runs the same command.
lab-settings: $(STAMP)
	$(PY) -m tools.labsettings install

# The learner's copy: new notebooks added, changed ones offered beside as NN_name.new.ipynb, none overwritten.
learner: $(STAMP)
	$(PY) -m tools.editions learner $(LEARNER)

# Two malloc arenas: less memory held by glibc for TensorFlow's threads (see start, measured there).
lab: export MALLOC_ARENA_MAX = 2
lab: datacheck
	$(VENV)/bin/jupyter lab $(LEARNER)/00_setup_and_tour.ipynb $(LAB_ARGS)

# The instructor edition (solutions filled in): for instructors and course authors, never for learners.
lab-instructor: export MALLOC_ARENA_MAX = 2
lab-instructor: datacheck
	$(VENV)/bin/jupyter lab notebooks/00_setup_and_tour.ipynb $(LAB_ARGS)

unit: setup
	$(TEST_ENV) $(PY) -m pytest tests $(PYTEST_ARGS)

notebooks: datacheck
	$(TEST_ENV) $(if $(ALLOW_MISSING_DATA),COURSE_ALLOW_MISSING_DATA=1) $(PY) -m pytest $(NBVAL) -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile notebooks $(PYTEST_ARGS)

test: datacheck
	$(TEST_ENV) $(if $(ALLOW_MISSING_DATA),COURSE_ALLOW_MISSING_DATA=1) $(PY) -m pytest tests notebooks $(NBVAL) -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The executed course as a static site in _build/html, built by Jupyter Book 1 (_config.yml, _toc.yml)
# in the profile COURSE_PROFILE says (default full); e.g. make book COURSE_PROFILE=quick.
# tools/book.py gives the kernels their environment (no MPLBACKEND, COURSE_PROGRESS=0) and fails on a cell error.
book: setup
	TF_CPP_MIN_LOG_LEVEL=3 PYTHONHASHSEED=0 $(PY) -m tools.book $(BOOK_ARGS)

# The student edition in student/ (a build output, rewritten each time: solutions replaced by stubs) for
# instructors to hand out; notebooks/ is the instructor edition. A learner's own copy is $(LEARNER)/ (make lab).
student: setup
	$(PY) -m tools.editions check
	$(PY) -m tools.editions student student

# The branch hub links pull (nbgitpuller): HEAD with notebooks/ as the student edition; then git push origin student.
student-branch: setup
	$(PY) -m tools.editions branch

# Speed and memory benchmarks; each writes its own section of bench/RESULTS.md.
bench: setup
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) bench/bench_training.py --out bench/RESULTS.md
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) bench/bench_comparison.py --out bench/RESULTS.md

# CPU seconds per notebook, what a learner's run costs a shared server (bench/course_cpu.py): this checkout,
# or beside an older version, e.g. make cpu CPU_ARGS="--tree before=../old --tree after=. --profile full".
CPU_ARGS ?= --profile quick
cpu: setup
	$(PY) bench/course_cpu.py $(CPU_ARGS) --write

# Peak memory and run time of every notebook from a fresh kernel (quick, full, and quick on one CPU);
# e.g. make memcheck MEMCHECK_ARGS="--notebooks 10 11" for some notebooks only.
MEMCHECK_ARGS ?=
memcheck: setup
	$(PY) bench/memcheck.py --profile quick $(MEMCHECK_ARGS)
	$(PY) bench/memcheck.py --profile full $(MEMCHECK_ARGS)
	$(PY) bench/memcheck.py --profile quick --taskset 0 $(MEMCHECK_ARGS)

# The class's JupyterHub (hub/jupyterhub_config.py) tested for real on 127.0.0.1 with real accounts: as root.
# hubsetup installs JupyterHub and configurable-http-proxy into HUB_PREFIX (outside the course's .venv).
HUB_PREFIX ?= /opt/course-hub
HUBTEST_ARGS ?=
hubsetup:
	test -x $(HUB_PREFIX)/bin/jupyterhub || { $(PYTHON) -m venv $(HUB_PREFIX) && \
	  $(HUB_PREFIX)/bin/pip install --quiet --disable-pip-version-check jupyterhub==6.1.1 jupyterhub-idle-culler==2.0.0; }
	test -e $(HUB_PREFIX)/node_modules/.bin/configurable-http-proxy || \
	  npm install --prefix $(HUB_PREFIX) --silent --no-fund --no-audit configurable-http-proxy@5.3.0

hubtest: setup hubsetup
	$(HUB_PREFIX)/bin/python hub/hubtest.py --course-venv $(VENV) \
	  --proxy $(HUB_PREFIX)/node_modules/.bin/configurable-http-proxy --json tests/artifacts/hubtest.json $(HUBTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check course_utils tests bench tools hub

clean:
	rm -rf $(VENV) .pytest_cache build _build student .cache
