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
# kiss-icp in the same run, and print the comparison table (also saved to out/bench.md).
demo: $(STAMP)
	$(BIN)/scanner bench --out out/bench.md

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: demo

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
