# Everything runs from a virtualenv this Makefile creates, so a fresh
# machine with python3 needs nothing else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv test unit functional test-compat demo bench bench-quick bench-instructions bench-cold soak repro clean

$(STAMP): setup.cfg setup.py requirements-test.txt swiftinst/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e . -r requirements-test.txt
	touch $@

venv: $(STAMP)

# The C timers (when built), then the unit tests and the core functional
# tests again with the pure-Python timers, as on a node without a compiler.
PURE_PYTHON_TESTS := tests/unit tests/functional/test_object_server.py \
	tests/functional/test_identical_responses.py

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS) tests
	SWIFTINST_PURE_PYTHON=1 $(PY) -m pytest -q $(PYTEST_ARGS) \
		$(PURE_PYTHON_TESTS)

unit: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS) tests/unit

functional: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS) tests/functional

# The functional tests against the oldest supported Swift (2.29, the Ubuntu
# 22.04 LTS release) and the newest on PyPI, each in its own virtualenv.
# Swift 2.29 reads only /etc/swift/swift.conf: its servers run in a private
# mount namespace (root) where that is the testbed's own.
SWIFT_oldest := swift~=2.29.0
SWIFT_newest := swift

.venv-swift-%/.installed-stamp: setup.cfg setup.py requirements-test.txt \
		swiftinst/_speedups.c
	$(PYTHON) -m venv .venv-swift-$*
	.venv-swift-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-swift-$*/bin/python -m pip install --quiet --upgrade -e . \
		-r requirements-test.txt '$(SWIFT_$*)'
	touch $@

.PRECIOUS: .venv-swift-%/.installed-stamp

test-swift-%: .venv-swift-%/.installed-stamp
	.venv-swift-$*/bin/python -m pytest -q $(PYTEST_ARGS) tests/functional

test-compat: test-swift-oldest test-swift-newest

demo: $(STAMP)
	$(VENV)/bin/swiftinst demo

clean:
	rm -rf $(VENV) .venv-swift-* build *.egg-info .pytest_cache \
		swiftinst/_speedups*.so

# Benchmarks need wrk (Debian package) and, for pinning, taskset.
bench: $(STAMP)
	$(PY) -m bench.run

bench-quick: $(STAMP)
	$(PY) -m bench.run --quick

# A worker's memory over 100,000 mixed requests (wrk; a few minutes).
soak: $(STAMP)
	$(PY) -m bench.soak

# Instructions per PUT under callgrind (Debian's valgrind): repeatable to
# 0.03 % (an odd in-process run 1 %), for telling which part of the filter
# costs what; then the same in a real worker, for PUTs and GETs.
bench-instructions: $(STAMP)
	$(PY) -m bench.instructions
	$(PY) -m bench.instructions --worker

# The request path hot and with the caches evicted between requests
# (BENCHMARKS.rst: what instructions do not show).
bench-cold: $(STAMP)
	$(PY) -m bench.coldcache

# The seed thread's slowdown on a loop-mounted XFS (root; Debian's xfsprogs,
# wrk and libfuse2), with swiftinst's figures: bench/results/repro-*.{csv,png}
REPRO_STAMP := $(VENV)/.repro-stamp
$(REPRO_STAMP): $(STAMP) requirements-repro.txt
	$(PY) -m pip install --quiet -r requirements-repro.txt
	touch $@

repro: $(REPRO_STAMP)
	$(PY) -m bench.repro_slowdown
