# The README's two commands: `make demo` and `make test`. Both set up .venv/ from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@# open3d (the digital twin's ray caster) needs Debian's libusb-1.0-0
	@dpkg -s libusb-1.0-0 >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libusb-1.0-0; \
	  else echo "please install libusb-1.0-0 (sudo apt-get install libusb-1.0-0)"; exit 1; fi; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The main job that exists today: map the 120 real BALM scans with our odometry and with
# kiss-icp in the same run (out/bench_balm.md), then a short digital-twin run of the
# LiDAR-inertial filter against the ground truth (out/bench_twin_quick.md). The full twin
# benchmark, every scene and motion for 60 s, is `.venv/bin/scanner bench` (about 20 min).
demo: $(STAMP)
	$(BIN)/scanner bench --only balm --out out/bench_balm.md
	$(BIN)/scanner bench --only twin --quick --out out/bench_twin_quick.md

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: demo

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
