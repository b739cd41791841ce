# The README's two commands: `make demo` and `make test`. Both set up .venv/ from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBS := libusb-1.0-0 chromium systemd

.PHONY: demo test lint bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@# Debian packages: libusb-1.0-0 for open3d (the digital twin's ray caster); chromium for
	@# the web UI's browser test; systemd for `systemd-analyze verify` of the unit
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "please install:$$missing (sudo apt-get install$$missing)"; exit 1; fi; fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# torch first, pinned: the CPU build lies on this machine's disk, and an open range in
	@# the `splat` extra would otherwise fetch a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The main job: the scanner daemon with its web UI, fed by the digital twin through the real
# drivers over loopback (`scanner demo`). It prints the UI's URL with the token; Ctrl-C stops.
demo: $(STAMP)
	$(BIN)/scanner demo

# Accuracy and speed against kiss-icp: the real BALM scans, then a short twin run. The full
# twin table (every scene and motion, 60 s each) is `.venv/bin/scanner bench` (about 20 min);
# the daemon's latency figures are `.venv/bin/python benchmarks/daemon_latency.py`.
bench: $(STAMP)
	$(BIN)/scanner bench --only balm --out out/bench_balm.md
	$(BIN)/scanner bench --only twin --quick --out out/bench_twin_quick.md

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache  # the layers in pyproject.toml: each package imports only those below it
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
