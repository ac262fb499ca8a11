# The two commands of the README, and the checks CI runs.
#   make demo   the whole pipeline on the embedded demo data (offline, CPU)
#   make test   lint + the test suite (what .ci/run calls)
#   make test SLURM=0   the same without the real-SLURM test (it needs root and Debian's
#                       SLURM packages, which `make slurm-setup` installs)
# There is no `make test-slow`: no test is marked `slow`, because every test, the demo
# pipeline's included (a few minutes on 2 cores), belongs in what CI runs. A test that would
# push `make test` past ~12 minutes gets the `slow` marker, and the target comes back with it.
VENV ?= .venv
CORES ?= 2
SLURM ?= 1
BIN := $(abspath $(VENV))/bin
# Rules call the `tinycnn` command of the project environment.
export PATH := $(BIN):$(PATH)

.PHONY: demo test lint format setup slurm-setup dry-run clean-demo gpu-check gpu-wheels \
	paper-reference

# The demo: the paper's runs cut short (presets/demo.yaml), and the runs beyond the paper
# (presets/modern.yaml) cut short too (presets/demo/modern.yaml). Its train jobs take one core
# each, so that two run at once and their single-threaded startup overlaps: 216 s against 311 s
# with two threads a job, one job at a time, on 2 cores (benchmarks/RESULTS.md).
DEMO_CONFIG := presets/demo.yaml presets/modern.yaml presets/demo/modern.yaml
demo: setup
	snakemake --cores $(CORES) --set-threads train=1 --configfile $(DEMO_CONFIG)
	@echo "paper: $(CURDIR)/results/demo/paper.pdf"

# The real paper from the reference runs kept in reference/ (docs/reference-runs.md): no GPU,
# no data; a run not yet recorded shows as "not yet run". Writes results/reference/paper.pdf.
paper-reference: setup
	tinycnn reference render --readme README.md

dry-run: setup
	snakemake -n --cores 8 --resources gpu=1

# Two pytest workers (pytest-xdist), a test file to each (--dist loadfile), so that a module's
# fixtures (the demo pipeline, the local SLURM) run once: the demo in one worker overlaps the
# SLURM test and the rest in the other. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 2
test: setup lint $(if $(filter 1,$(SLURM)),slurm-setup)
	pytest -n $(TEST_WORKERS) --dist loadfile --durations=15 \
		-m "not slow and not gpu$(if $(filter 1,$(SLURM)),, and not slurm)"

lint: setup
	ruff check .
	ruff format --check .
	snakefmt --check .
	snakemake --lint
	snakemake --lint --configfile $(DEMO_CONFIG)

format: setup
	ruff format .
	ruff check --fix .
	snakefmt .

# The GPU path in one short run (scripts/gpu_check.py). No setup step: on a GPU machine it runs
# with the Python that has torch (the project's .venv when there is one, else python3), installs
# Snakemake from .whl/ (`make gpu-wheels`, where PyPI is reachable) if needed, and uses no network.
GPU_PYTHON ?= $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,python3)
gpu-check:
	$(GPU_PYTHON) scripts/gpu_check.py

gpu-wheels: setup
	scripts/gpu-wheels.sh

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: requirements.lock pyproject.toml scripts/setup.sh
	VENV=$(VENV) scripts/setup.sh
	touch $@

# Debian's slurm-wlm daemons, munge and MariaDB for tests/integration/test_slurm.py and
# scripts/local-slurm.sh: installed with apt-get as root, else the command is printed.
slurm-setup:
	scripts/local-slurm.sh install

clean-demo:
	rm -rf results/demo logs/demo resources/bd37d950035ffb53b6eda235c0908d17
