# The two commands of the README, and the checks CI runs.
#   make demo   the whole pipeline on the embedded demo data (offline, CPU)
#   make test   lint + the test suite (what .ci/run calls)
VENV ?= .venv
CORES ?= 2
BIN := $(abspath $(VENV))/bin
# Rules call the `tinycnn` command of the project environment.
export PATH := $(BIN):$(PATH)

.PHONY: demo test test-slow lint format setup dry-run clean-demo

demo: setup
	snakemake --cores $(CORES) --configfile presets/demo.yaml

dry-run: setup
	snakemake -n --cores 8 --resources gpu=1

test: setup lint
	pytest -m "not slow and not gpu"

test-slow: setup
	pytest -m "slow"

lint: setup
	ruff check .
	ruff format --check .
	snakefmt --check .
	snakemake --lint
	snakemake --lint --configfile presets/demo.yaml

format: setup
	ruff format .
	ruff check --fix .
	snakefmt .

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: requirements.lock pyproject.toml scripts/setup.sh
	VENV=$(VENV) scripts/setup.sh
	touch $@

clean-demo:
	rm -rf results/demo logs/demo resources/tiny-imagenet-demo.zip
