# elfkit: two commands do all set-up on a fresh machine (see README.md).
#   make demo   venv + elfkit + the two fixtures it runs, then a short demonstration
#   make test   Debian packages (.ci/packages), venv + every fixture, then the whole test suite
#   make bench  benchmarks side by side with their peers, rewrites BENCH.md
#   make fuzz   the fuzzing campaign of every command (elfkit/fuzz), resumable, rewrites FUZZ.md

# The interpreter: the distribution's /usr/bin/python3 when it is 3.10 or newer (pyproject.toml)
# and can make a venv (Debian: python3-venv, which `make demo` and `make test` install first),
# else python3 on PATH. Debian builds its CPython with PGO and LTO and a static libpython; a
# --enable-shared build without them (pyenv's, first on PATH here) runs elfkit 10-15% slower,
# start-up and system-call hooks alike (docs/ARCHITECTURE.md, `elfkit/cli`).
PYTHON ?= $(shell /usr/bin/python3 -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 10))' \
	2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all venv fixtures demo test bench fuzz clean syscalls-doc packages demo-packages \
	demo-fixtures brotli
# one step at a time at this level (apt-get, the venv, the fixtures); fixtures/ builds with -j
.NOTPARALLEL:

all: venv fixtures

# The install is editable_mode=compat: a plain path in a .pth; the default editable finder
# imports pathlib, re and importlib.util at every start (~15 ms of each `elfkit` command). If a
# setuptools ever drops the mode, the default one is used.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv --clear $(VENV)   # (--clear: nothing left of a venv of another Python)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' --config-settings editable_mode=compat 2>/dev/null || \
		$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m compileall -q elfkit   # bytecode up front: start-up matters, and PYTHONDONTWRITEBYTECODE may be set
	# setuptools is for building (pip builds in an isolated environment of its own); in the
	# venv its distutils-precedence.pth imported _distutils_hack at every Python start
	# (1.9 M instructions, 2% of an inspect --all)
	$(PY) -m pip uninstall --quiet --yes setuptools
	touch $@

venv: $(STAMP)
	@$(PY) -m compileall -q elfkit

fixtures:
	$(MAKE) -C fixtures -j$(JOBS)

# The Debian packages (one list, .ci/packages; .ci/run uses it too): what is missing is installed
# as root or with sudo that asks for no password, else make stops with the apt-get line to run.
packages:
	@sh .ci/packages test

demo-packages:
	@sh .ci/packages demo

# `make demo` builds only what it runs: gcc and libc6-dev, no musl-gcc, gcc-multilib or gdb
DEMO_FIXTURES := build/hello-pie build/nolibc

demo-fixtures:
	$(MAKE) -C fixtures -j$(JOBS) $(DEMO_FIXTURES)

demo: demo-packages venv demo-fixtures
	@echo '$$ elfkit load-and-run --show-stack --clear-env --env LANG=C fixtures/build/hello-pie a b'
	@$(VENV)/bin/elfkit load-and-run --show-stack --clear-env --env LANG=C fixtures/build/hello-pie a b
	@echo
	@echo '$$ elfkit load-and-run --strace fixtures/build/nolibc'
	@$(VENV)/bin/elfkit load-and-run --strace fixtures/build/nolibc
	@echo
	@echo "$$ elfkit load-and-run --trace-procs /bin/sh -c 'echo hello | tr a-z A-Z'"
	@$(VENV)/bin/elfkit load-and-run --trace-procs /bin/sh -c 'echo hello | tr a-z A-Z'
	@echo
	@echo '$$ elfkit inspect fixtures/build/hello-pie'
	@$(VENV)/bin/elfkit inspect fixtures/build/hello-pie
	@echo
	@echo '$$ elfkit inspect --got fixtures/build/hello-pie'
	@$(VENV)/bin/elfkit inspect --got fixtures/build/hello-pie
	@echo
	@echo '$$ elfkit disasm fixtures/build/hello-pie main'
	@$(VENV)/bin/elfkit disasm fixtures/build/hello-pie main

# brotli's C sources from PyPI (tests/test_link_brotli.py, benchmarks/bench_link.py): fetched once
# into fixtures/build/cache; without the network the note says so and those tests skip.
brotli: venv
	@$(MAKE) -C fixtures -j$(JOBS) brotli || \
	    echo "note: fixtures/build/brotli not built (no network?); tests/test_link_brotli.py skips"

test: packages venv fixtures brotli
	@$(PY) -m elfkit.kernel.cpu --check-fast-paths   # a loud banner if Unicorn's fast paths are off
	$(PY) -m pytest -n $(JOBS) -q tests

# Every command on mutated copies of real files (elfkit/fuzz, FUZZ.md): FUZZ_INPUTS per target
# (default 100000), FUZZ_TARGETS (comma-separated; default all), FUZZ_JOBS (default: the cores),
# FUZZ_SEED. Resumable: .fuzz/TARGET.json holds where each target stopped (Ctrl-C keeps it);
# FUZZ_FRESH=1 starts again from input 0. Prints inputs, failures and inputs/s per target.
# FUZZ_SHARD=K/N runs shard K of N (one per CI matrix runner; their .fuzz/ files gathered into
# one directory make one report).
FUZZ_INPUTS ?= 100000
FUZZ_TARGETS ?= inspect,inspect-json,check,disasm,load-and-run,load-and-run-elfkit,trace-plt,link
FUZZ_SEED ?= 1
FUZZ_JOBS ?= $(JOBS)

fuzz: venv fixtures
	$(PY) -m elfkit.fuzz --inputs $(FUZZ_INPUTS) --targets $(FUZZ_TARGETS) --seed $(FUZZ_SEED) \
	    --jobs $(FUZZ_JOBS) $(if $(FUZZ_FRESH),--fresh) $(if $(FUZZ_SHARD),--shard $(FUZZ_SHARD)) \
	    --report FUZZ.md

syscalls-doc: venv
	$(PY) -m elfkit.kernel.syscalls.compat > docs/SYSCALLS.md

bench: venv fixtures
	$(PY) benchmarks/run.py

clean:
	$(MAKE) -C fixtures clean
	rm -rf $(VENV) *.egg-info .pytest_cache
