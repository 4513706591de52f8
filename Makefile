# Two environments (see README): the primary one (Python 3.10, TF 2.16, TFX 1.16) runs every
# test, the slow end-to-end ones included; the latest one (Python 3.11, TF 2.21, Keras 3.15, no
# TFX) runs the library tests, neither `tfx` nor `slow`. `make test-fast` is the edit loop: the
# primary environment without the slow tests.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
PY310 ?= $(PYENV_ROOT)/versions/3.10.13/bin/python
PY311 ?= $(PYENV_ROOT)/versions/3.11.7/bin/python
PRIMARY := .venv310
LATEST := .venv311
PYTEST_ARGS ?=
# Two workers (the CI machine's two cores), a test file per worker at a time, so that a module's
# fixtures are built once; WORKERS=0 runs in one process.
WORKERS ?= 2
XDIST := -n $(WORKERS) --dist loadfile

.PHONY: setup browser test test-primary test-latest test-fast

setup: $(PRIMARY)/.installed $(LATEST)/.installed browser

# The `affect-tf live --http` page is tested in Debian's Chromium, headless: installed with apt-get
# where it is missing and apt-get can run (as root); elsewhere that one test skips.
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
		&& { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; }; } \
		|| echo "chromium not installed: the live page test will skip"

$(PRIMARY)/.installed: setup.py constraints/primary.txt
	test -x $(PRIMARY)/bin/python || $(PY310) -m venv $(PRIMARY)
	$(PRIMARY)/bin/pip install -q -U pip wheel setuptools
	$(PRIMARY)/bin/pip install -q -c constraints/primary.txt -e '.[tfx,dev,dask]'
	touch $@

$(LATEST)/.installed: setup.py constraints/latest.txt
	test -x $(LATEST)/bin/python || $(PY311) -m venv $(LATEST)
	$(LATEST)/bin/pip install -q -U pip wheel setuptools
	$(LATEST)/bin/pip install -q -c constraints/latest.txt -e '.[dev,jax,dask]'
	touch $@

test: test-primary test-latest

test-primary: $(PRIMARY)/.installed
	@echo "== primary environment: $$($(PRIMARY)/bin/python -c 'import sys, tensorflow as tf, keras; print(sys.version.split()[0], "tensorflow", tf.__version__, "keras", keras.__version__)' 2>/dev/null)"
	$(PRIMARY)/bin/python -m pytest tests -m "not heavy" $(XDIST) $(PYTEST_ARGS)

test-latest: $(LATEST)/.installed
	@echo "== latest environment: $$($(LATEST)/bin/python -c 'import sys, tensorflow as tf, keras; print(sys.version.split()[0], "tensorflow", tf.__version__, "keras", keras.__version__)' 2>/dev/null)"
	$(LATEST)/bin/python -m pytest tests -m "not tfx and not slow and not heavy" $(XDIST) $(PYTEST_ARGS)

test-fast: $(PRIMARY)/.installed
	$(PRIMARY)/bin/python -m pytest tests -m "not slow and not heavy" $(XDIST) $(PYTEST_ARGS)
