# Everything runs from a virtualenv this Makefile creates, so a fresh
# machine with python3 needs nothing else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv test unit functional test-compat test-pythons lint dist \
	check-dist demo \
	bench bench-quick bench-instructions bench-cold soak repro clean

# The modules compiled from their own source (swiftinst/compiled.py): a
# .pxd beside each.  An edit to one rebuilds them in place.
COMPILED := $(wildcard swiftinst/*.pxd) $(patsubst %.pxd,%.py,$(wildcard swiftinst/*.pxd))

$(STAMP): setup.cfg setup.py pyproject.toml requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

BUILD_STAMP := $(VENV)/.built-stamp
# (other Pythons' builds, of other ABIs, stay beside it)
$(BUILD_STAMP): $(STAMP) $(COMPILED)
	rm -f swiftinst/*$$($(PY) -c 'import sysconfig; \
		print(sysconfig.get_config_var("EXT_SUFFIX"))')
	$(PY) -m pip install --quiet --no-build-isolation -e .
	touch $@

venv: $(BUILD_STAMP)

# Every test file twice: with the compiled request path, then with the
# same modules interpreted, as on a node without a compiler.  Each run
# checks that it ran the mode it was asked for (tests/unit/test_compiled),
# prints its skips, and fails on one that tests/skips/<step>.txt does not
# list: a machine without what a test needs must not pass quietly.
SKIPS = -rs --expected-skips=tests/skips/$(1).txt
test: $(BUILD_STAMP)
	SWIFTINST_EXPECT=compiled $(PY) -m pytest -q $(call SKIPS,newest) \
		$(PYTEST_ARGS) tests
	SWIFTINST_EXPECT=interpreted SWIFTINST_PURE_PYTHON=1 \
		$(PY) -m pytest -q $(call SKIPS,newest) $(PYTEST_ARGS) tests

# The other supported Pythons (pyenv's, with the newest Swift): the unit
# tests in both modes, the functional tests compiled, two at a time.
PYTHONS := 3.10 3.12 3.13
.venv-python-%/.installed-stamp: setup.cfg setup.py pyproject.toml \
		requirements-test.txt $(COMPILED)
	prefix=$$(pyenv prefix $* 2>/dev/null) || { \
		echo "no Python $* here (pyenv prefix $*)" >&2; exit 1; }; \
		$$prefix/bin/python3 -m venv .venv-python-$*
	.venv-python-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-python-$*/bin/python -m pip install --quiet \
		-r requirements-test.txt swift
	.venv-python-$*/bin/python -m pip install --quiet --no-build-isolation \
		-e .
	touch $@

.PRECIOUS: .venv-python-%/.installed-stamp

test-python-%: .venv-python-%/.installed-stamp
	SWIFTINST_EXPECT=compiled .venv-python-$*/bin/python -m pytest -q \
		$(call SKIPS,python-$*) $(PYTEST_ARGS) tests/unit
	SWIFTINST_EXPECT=interpreted SWIFTINST_PURE_PYTHON=1 \
		.venv-python-$*/bin/python -m pytest -q \
		$(call SKIPS,python-$*) $(PYTEST_ARGS) tests/unit
	SWIFTINST_EXPECT=compiled .venv-python-$*/bin/python -m pytest -q \
		-n 2 $(call SKIPS,python-$*) $(PYTEST_ARGS) tests/functional \
		tests/unit/test_compiled.py

test-pythons: $(addprefix test-python-,$(PYTHONS))

unit: $(BUILD_STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS) tests/unit

functional: $(BUILD_STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS) tests/functional

# The functional tests against the oldest supported Swift (2.29, the Ubuntu
# 22.04 LTS release) and the newest on PyPI, each in its own virtualenv.
# Swift 2.29 reads only /etc/swift/swift.conf: its servers run in a private
# mount namespace (root) where that is the testbed's own.
# (Swift 2.29 imports pkg_resources, which setuptools 81 dropped.)
SWIFT_oldest := 'swift~=2.29.0' 'setuptools<81'
SWIFT_newest := swift

.venv-swift-%/.installed-stamp: setup.cfg setup.py pyproject.toml \
		requirements-test.txt $(COMPILED)
	$(PYTHON) -m venv .venv-swift-$*
	.venv-swift-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-swift-$*/bin/python -m pip install --quiet \
		-r requirements-test.txt $(SWIFT_$*)
	.venv-swift-$*/bin/python -m pip install --quiet --no-build-isolation \
		-e .
	touch $@

.PRECIOUS: .venv-swift-%/.installed-stamp

# Both modes here too, every test, two at a time.
test-swift-%: .venv-swift-%/.installed-stamp
	SWIFTINST_EXPECT=compiled .venv-swift-$*/bin/python -m pytest -q -n 2 \
		$(call SKIPS,swift-$*) $(PYTEST_ARGS) tests
	SWIFTINST_EXPECT=interpreted SWIFTINST_PURE_PYTHON=1 \
		.venv-swift-$*/bin/python -m pytest -q -n 2 \
		$(call SKIPS,swift-$*) $(PYTEST_ARGS) tests

test-compat: test-swift-oldest test-swift-newest

# flake8 and hacking with Swift's settings (setup.cfg), in a virtualenv
# of their own: hacking pins its flake8.
LINT_STAMP := .venv-lint/.installed-stamp
$(LINT_STAMP): requirements-lint.txt
	$(PYTHON) -m venv .venv-lint
	.venv-lint/bin/python -m pip install --quiet -r requirements-lint.txt
	touch $@

lint: $(LINT_STAMP)
	.venv-lint/bin/flake8

# The sdist and the wheel, built as pip builds them (build isolation,
# pyproject.toml's requirements).
dist: $(STAMP)
	rm -rf dist
	$(PY) -m pip install --quiet build
	$(PY) -m build --outdir dist .

# What an operator installs, checked from outside the checkout:
# - the wheel holds swiftinst, its dist-info and LICENSE, nothing else;
#   installed (not editable) beside Swift, it passes the functional
#   tests, run from a copy of tests/ so that only the installed package
#   can be imported;
# - the sdist, installed where no compiler works (CC=false), serves with
#   the interpreted request path and counts requests.
check-dist: dist
	$(PY) -c 'import sys, zipfile; names = zipfile.ZipFile(sys.argv[1]).namelist(); \
		bad = [n for n in names if not n.startswith(("swiftinst/", "swiftinst-"))]; \
		assert not bad, bad; \
		assert any(n.endswith("licenses/LICENSE") for n in names), names; \
		print("wheel: %d files, all swiftinst/ or its dist-info, LICENSE included" % len(names))' \
		dist/swiftinst-*.whl
	rm -rf .venv-wheel .venv-sdist build/check-dist
	$(PYTHON) -m venv .venv-wheel
	.venv-wheel/bin/python -m pip install --quiet dist/swiftinst-*.whl \
		pytest hypothesis
	mkdir -p build/check-dist
	cp -r tests etc pytest.ini build/check-dist/
	cd build/check-dist && ../../.venv-wheel/bin/python -c 'import swiftinst, \
		swiftinst.compiled as c; print(swiftinst.__file__); \
		assert "site-packages" in swiftinst.__file__; \
		assert c.in_use(), c.describe(); print(c.describe())'
	cd build/check-dist && ../../.venv-wheel/bin/python -m pytest -q \
		-p no:cacheprovider $(call SKIPS,check-dist) tests/functional
	$(PYTHON) -m venv .venv-sdist
	CC=false .venv-sdist/bin/python -m pip install --quiet \
		dist/swiftinst-*.tar.gz
	cd build && ../.venv-sdist/bin/python \
		check-dist/tests/install/check_no_compiler.py

demo: $(BUILD_STAMP)
	$(VENV)/bin/swiftinst demo

clean:
	rm -rf $(VENV) .venv-swift-* .venv-python-* .venv-lint .venv-wheel \
		.venv-sdist build \
		dist *.egg-info .pytest_cache \
		swiftinst/*.so swiftinst/*.c

# Benchmarks need wrk (Debian package) and, for pinning, taskset.
bench: $(BUILD_STAMP)
	$(PY) -m bench.run

bench-quick: $(BUILD_STAMP)
	$(PY) -m bench.run --quick

# A worker's memory over 100,000 mixed requests (wrk; a few minutes).
soak: $(BUILD_STAMP)
	$(PY) -m bench.soak

# Instructions per PUT under callgrind (Debian's valgrind): repeatable to
# 0.03 % (an odd in-process run 1 %), for telling which part of the filter
# costs what; then the same in a real worker, for PUTs and GETs.
bench-instructions: $(BUILD_STAMP)
	$(PY) -m bench.instructions
	$(PY) -m bench.instructions --worker

# The request path hot and with the caches evicted between requests
# (BENCHMARKS.rst: what instructions do not show).
bench-cold: $(BUILD_STAMP)
	$(PY) -m bench.coldcache

# The seed thread's slowdown on a loop-mounted XFS (root; Debian's xfsprogs,
# wrk and libfuse2), with swiftinst's figures: bench/results/repro-*.{csv,png};
# then its container side, a container growing on the slow disk
# (bench/results/repro-container-*)
REPRO_STAMP := $(VENV)/.repro-stamp
$(REPRO_STAMP): $(BUILD_STAMP) requirements-repro.txt
	$(PY) -m pip install --quiet -r requirements-repro.txt
	touch $@

repro: $(REPRO_STAMP)
	$(PY) -m bench.repro_slowdown
	$(PY) -m bench.repro_container
