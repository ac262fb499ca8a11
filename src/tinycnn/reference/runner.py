"""Train the next reference runs within a time budget, and return their records as one file.

``tinycnn reference run`` in the repository's root (docs/reference-runs.md: the CPU's sequence
every sitting, the GPU's when one is lent; ``python3 scripts/reference_runs.py`` is the same
where tinycnn is not installed, as on a GPU machine). In order:

1. the archive: the parts of `split` (``--parts``, with their SHA256SUMS) are verified and
   joined, or ``--archive`` names the whole file (default: the config's ``data.archive``);
   either way it is checked against the config's MD5 and size, as the download rule does. A
   part missing is an error: no run starts on partial data;
2. the data stage, through the commands the Snakemake rules call (``tinycnn pack``,
   ``augment``, ``preview``), into ``--work`` (default ``~/.cache/tinycnn/reference``);
3. the runs of the plan (:func:`tinycnn.reference.plan`) that this kind of machine can do and
   the reference folder does not hold yet (a stale record counts as not held), each through
   ``tinycnn train`` with its settings file, as rule ``train`` runs it, with the usable
   cores' threads. On a CPU (``--resume-later``) any run starts while 10 minutes are left and
   resumes from its checkpoint at the next sitting; elsewhere a run starts only if its
   projected time fits what is left of ``--budget``. A run still going at the deadline is
   stopped (it checkpoints) and is not recorded;
4. after every finished run, ``--out`` is rewritten (atomically): the manifest (archive MD5,
   the arrays' SHA-256, commit and source hash, the machine, each run's projected and
   measured times, why each run not recorded stopped) and each finished run's metrics.csv,
   summary.json, settings.json and log, no weights, plus what the paper shows of the data
   (stats.json, classes.tsv, the preview grids).

SIGINT, SIGTERM or SIGHUP to the runner stops the sitting (:class:`RunnerStop`): the job at
work gets SIGTERM (a train job checkpoints), the records file says why, nothing more starts.
The runner holds ``WORK/runner.lock`` (:func:`work_lock`), which its jobs inherit: a second
runner on the same working folder is refused.

Runs of one architecture share torch.compile's caches (``TORCHINDUCTOR_CACHE_DIR`` under
``--work``), so only the first compiles from scratch; the manifest records each run's compile
time (its first epoch's time beyond its later epochs' median) to show what that saves.

It needs Python, torch, numpy, pyyaml, pillow and tqdm, not Snakemake. jsonschema is used
when installed; without it the config is not validated here, and every record is checked
against the validated config when it is merged (``tinycnn reference merge``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from tinycnn import commands, reference
from tinycnn.config.resolve import training_settings
from tinycnn.data.download import verify
from tinycnn.report import records
from tinycnn.shared import hardware
from tinycnn.shared.code_version import COMMIT_ENV, git_commit, source_sha256
from tinycnn.shared.digests import content_id, sha256_file
from tinycnn.shared.errors import UserError

STOP_GRACE = 60  # seconds a stopped run gets to write its checkpoint and exit
MIN_SITTING = 600  # with --resume-later: the least budget left for which a run still starts
# Where the runner works by default: outside the work tree, kept between sittings on a machine
# that is kept, so that a run stopped at the deadline resumes from its checkpoint.
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tinycnn"
WORK = CACHE / "reference"  # the working folder: data, runs, checkpoints, caches


def checkpoint_path(work: Path, experiment: str, seed: int) -> Path:
    """Where the run ``experiment`` seed ``seed`` keeps its checkpoint in the working folder."""
    return Path(work) / "checkpoints" / f"{experiment}_seed{seed}.pt"


def device_kind() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def join_parts(parts: Path, out: Path) -> Path:
    """Verify the parts listed in ``parts/SHA256SUMS``, join them, verify the whole."""
    sums = parts / "SHA256SUMS"
    if not sums.is_file():
        raise UserError(f"{sums} is missing: send it with the first part")
    listed = [line.split(maxsplit=1) for line in sums.read_text().splitlines() if line.strip()]
    pieces = sorted((name.strip(), digest) for digest, name in listed if name.startswith("part-"))
    whole = [(name.strip(), digest) for digest, name in listed if not name.startswith("part-")]
    missing = [name for name, _ in pieces if not (parts / name).is_file()]
    if missing:
        raise UserError(
            f"{', '.join(missing)} missing from {parts}: the machine did not keep the parts "
            "between calls. Send every part again; no run starts on partial data."
        )
    for name, digest in pieces:
        if sha256_file(parts / name) != digest:
            raise UserError(f"{parts / name} is damaged (SHA-256 differs): send it again")
    name, digest = whole[0]
    target = out / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".part"), "wb") as fh:
        for piece, _ in pieces:
            with open(parts / piece, "rb") as src:
                shutil.copyfileobj(src, fh, 1 << 24)
    target.with_suffix(".part").replace(target)
    if sha256_file(target) != digest:
        raise UserError(f"the joined {target} does not match SHA256SUMS: send the parts again")
    log(f"joined {len(pieces)} parts into {target} and verified it")
    return target


def machine() -> dict:
    """The machine of this session (as a run records it: train.run_machine, with the threads
    each job gets) and its Python, for the manifest."""
    import torch

    from tinycnn.training.device import run_machine

    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    return {
        "hostname": platform.node(),
        "python": platform.python_version(),
        **run_machine(device, threads=hardware.usable_cores()),
    }


def lower_priority(pid: int) -> None:
    """Give the job ``pid`` this process's niceness, for its whole session: a job started in
    a new session gets a new scheduler autogroup (Linux), whose own niceness is 0, and within
    which ``nice`` counts for nothing against the user's other work. Best effort."""
    niceness = os.nice(0)
    if niceness > 0:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(str(niceness))


class Stopped(Exception):
    """The runner was asked to stop (:class:`RunnerStop`): it starts nothing more."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class RunnerStop:
    """The runner's own stop: SIGINT (Ctrl-C), SIGTERM or SIGHUP to the runner. Each job runs
    in its own session (no terminal's signal reaches it), so the runner passes the stop on: the
    job at work gets SIGTERM (a train job writes its checkpoint and exits), and a second signal
    SIGKILLs it. The runner then records why the run stopped, starts nothing more and exits
    with 128 + the signal's number. A signal this process was started ignoring (``nohup``'s
    SIGHUP) stays ignored."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.job: subprocess.Popen | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[RunnerStop]:
        before = {s: signal.getsignal(s) for s in self.SIGNALS}
        for s, handler in before.items():
            if handler is not signal.SIG_IGN:
                signal.signal(s, self._received)
        try:
            yield self
        finally:
            for s, handler in before.items():
                signal.signal(s, handler)

    def _received(self, signum: int, _frame: object) -> None:
        again = self.signum is not None
        self.signum = signum
        log(f"{signal.Signals(signum).name} received: stopping" + (" now" if again else ""))
        self.pass_on(signal.SIGKILL if again else signal.SIGTERM)

    def pass_on(self, sig: int) -> None:
        """Send ``sig`` to the job at work, if any."""
        if self.job is not None and self.job.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.job.pid, sig)

    def check(self) -> None:
        """Raise :class:`Stopped` where a stop was asked for."""
        if self.signum is not None:
            raise Stopped(self.signum)

    def status(self, checkpoint_kept: bool) -> str:
        kept = "checkpoint kept" if checkpoint_kept else "no checkpoint yet"
        return f"stopped: the runner received {signal.Signals(self.signum).name} ({kept})"


LOCK = "runner.lock"  # in the work folder: who holds it, as JSON (:func:`work_lock`)


@contextlib.contextmanager
def work_lock(work: Path, started: str | None = None) -> Iterator[int]:
    """Hold ``work/runner.lock`` (an flock) for the runner's lifetime: a second runner on the
    same working folder would train the same runs into the same checkpoints. Each job inherits
    the lock (``pass_fds``), so a job that outlives its runner (SIGKILLed) still holds it until
    it ends. The file says who holds it (:func:`announce`, :func:`work_in_use`): this process,
    ``started`` (now where not given). Yields the lock's file descriptor."""
    path = Path(work) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"{work} is in use by another runner ({holder_words(_holder(path))}) or a train "
                "job it started that still runs (`pgrep -af tinycnn`): wait for it to "
                "end, or stop it (kill -TERM: a train job writes its checkpoint), or give this "
                "runner another --work"
            ) from None
        announce(fd, {"pid": os.getpid(), "started": started or _now()})
        yield fd
    finally:
        os.close(fd)


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def announce(fd: int, holder: dict) -> None:
    """Write who holds the lock ``fd`` (the runner's pid, its start, the run it trains)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder, sort_keys=True) + "\n").encode(), 0)


def _holder(path: Path) -> dict:
    """What the lock file says of its holder; {} where it says nothing readable."""
    try:
        with open(path, "rb") as fh:
            holder = json.loads(fh.read(4096))
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def holder_words(holder: dict) -> str:
    """``pid 123, started 2026-12-08T00:00:00+00:00, training m1_set1 seed 0 since ...``"""
    words = [f"pid {holder.get('pid', 'unknown')}", f"started {holder.get('started', 'unknown')}"]
    training = holder.get("training")
    if isinstance(training, dict):
        words.append(
            f"training {training.get('experiment')} seed {training.get('seed')} since "
            f"{training.get('since')}"
        )
    return ", ".join(words)


def work_in_use(work: Path) -> dict | None:
    """Who holds the working folder ``work`` (:func:`work_lock`): what its lock file says, or
    None where no runner nor any job of one holds it."""
    path = Path(work) / LOCK
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def tinycnn(
    *args: str,
    log_path: Path,
    env: dict,
    cwd: Path,
    timeout: float | None = None,
    stop: RunnerStop | None = None,
    lock_fd: int | None = None,
) -> int:
    """``python -m tinycnn ARGS`` (the command the rules call), stderr to ``log_path``. Past
    ``timeout`` it gets SIGTERM (a train job checkpoints and exits), then SIGKILL. ``stop``: the
    runner's stop, passed on to the job; ``lock_fd``: the work folder's lock, which the job
    inherits."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tinycnn", *args],
            cwd=cwd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            pass_fds=() if lock_fd is None else (lock_fd,),
        )
        lower_priority(proc.pid)
        if stop is not None:
            stop.job = proc
            if stop.signum is not None:  # asked for while the job was starting
                stop.pass_on(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return -signal.SIGTERM
        finally:
            if stop is not None:
                stop.job = None


def stop_status(code: int, checkpoint_kept: bool) -> str:
    """Why a train job that did not finish stopped, from its return code: -15 when the runner
    stopped it at the deadline (:func:`tinycnn` returns that after its SIGTERM), 143 (128 + 15,
    what ``tinycnn train`` exits with after writing its checkpoint, cli._train) when a SIGTERM
    came from elsewhere, anything else a failure. A stopped run resumes from its checkpoint
    the next time the runner starts with the same work folder; it is never recorded."""
    kept = "checkpoint kept" if checkpoint_kept else "no checkpoint yet"
    if code == -signal.SIGTERM:
        return f"stopped at the deadline ({kept})"
    if code == 128 + signal.SIGTERM:
        return f"stopped by SIGTERM ({kept})"
    return f"failed ({code})"


def measured_times(run: Path) -> dict:
    """Training, validation and compile seconds of a finished run folder: the summary's
    training and wall seconds (the wall time adds validation and the checkpoints), and the
    first epoch's time beyond the later epochs' median (what compiling cost)."""
    summary = json.loads((run / "summary.json").read_text())
    train = [r["epoch_seconds"] for r in records.read_metrics((run / "metrics.csv").read_text())]
    compile_s = None
    if len(train) > 1:
        compile_s = round(max(0.0, train[0] - statistics.median(train[1:])), 1)
    return {
        "train_seconds": round(summary["train_seconds"], 1),
        "validation_seconds": round(summary["wall_seconds"] - summary["train_seconds"], 1),
        "compile_seconds": compile_s,
    }


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.deadline = time.monotonic() + args.budget
        self.work = Path(args.work).resolve()
        self.root = Path(args.root).resolve()
        self.config = reference.load_config(args.config, self.root)
        self.device = device_kind()
        if args.resume_later is None:
            args.resume_later = self.device == "cpu"
        self.rates = reference.load_rates(self.root / args.rates, self.device)
        self.env = dict(os.environ)
        src = str(self.root / "src")
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
        # One compile cache for every run: a second run of an architecture reuses the first's.
        self.env["TORCHINDUCTOR_CACHE_DIR"] = str(self.work / "inductor-cache")
        self.env["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "1"
        self.env["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "1"
        self.commit = args.commit or "unknown"
        self.env[COMMIT_ENV] = self.commit
        self.files: dict[str, bytes] = {}
        self.manifest: dict = {}
        self.stop = RunnerStop()
        self.started = _now()
        self.lock_fd: int | None = None  # the work folder's lock, which every job inherits

    def announce(self, training: dict | None) -> None:
        """Say in the work folder's lock file which run this runner trains (None: none)."""
        if self.lock_fd is not None:
            holder = {"pid": os.getpid(), "started": self.started}
            announce(self.lock_fd, {**holder, "training": training} if training else holder)

    def job(self, *args: str, log_path: Path, timeout: float | None = None) -> int:
        """One ``tinycnn`` job in the repository's root, as the runner runs every job: its
        environment, the runner's stop passed on, the work folder's lock inherited."""
        return tinycnn(
            *args,
            cwd=self.root,
            log_path=log_path,
            env=self.env,
            timeout=timeout,
            stop=self.stop,
            lock_fd=self.lock_fd,
        )

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def starts(self, projected: float) -> bool:
        """Whether a run that projects to ``projected`` seconds starts now. Where the work folder
        is kept between sittings (``--resume-later``, the CPU's way), any run starts while
        ``MIN_SITTING`` seconds are left: stopped at the deadline, it keeps its checkpoint and
        resumes from it at the next sitting. Otherwise (a GPU machine, given back after the
        call) only a run that fits what is left of the budget starts."""
        if self.args.resume_later:
            return self.left() >= MIN_SITTING
        return projected <= self.left()

    def archive(self) -> Path:
        data = self.config["data"]
        if self.args.parts:
            path = join_parts(Path(self.args.parts), self.work / "archive")
        else:
            path = Path(self.args.archive or data["archive"])
            path = path if path.is_absolute() else self.root / path
            if not path.is_file():
                raise UserError(
                    f"the archive {path} is not here: build it (README, 'The real archive') or "
                    "name it with --archive"
                )
        verify(path, data["md5"], data.get("size"))  # as the download rule verifies its file
        log(f"archive {path}: MD5 {data['md5']}, {path.stat().st_size:,} bytes, as the config says")
        return path

    def data_stage(self, archive: Path) -> None:
        packed = self.work / "packed"
        stats = packed / "stats.json"
        if not (stats.is_file() and json.loads(stats.read_text()).get("archive_md5")):
            started = time.monotonic()
            workers = min(16, os.cpu_count() or 2)
            code = self.job(
                *commands.pack(archive, packed, workers), log_path=self.work / "logs/pack.log"
            )
            self.stop.check()
            if code != 0:
                raise UserError(f"packing failed: see {self.work / 'logs/pack.log'}")
            log(f"packed in {time.monotonic() - started:.0f} s")
        for name in self.config["augmentation"]["sets"]:
            out = self.work / "augmented" / f"{name}_preview.png"
            if not out.is_file():
                self.job(
                    *commands.preview(self.config, name, packed / "train_images.npy", out),
                    log_path=self.work / f"logs/preview_{name}.log",
                )
                self.stop.check()
            if out.is_file():
                self.files[f"data/{name}_preview.png"] = out.read_bytes()
        for name in reference.DATA_FILES:
            self.files[f"data/{name}"] = (packed / name).read_bytes()

    def augmented(self, name: str) -> Path:
        out = self.work / "augmented" / f"{name}.npy"
        if not out.is_file():
            started = time.monotonic()
            images = self.work / "packed/train_images.npy"
            threads = min(16, os.cpu_count() or 2)
            code = self.job(
                *commands.augment(self.config, name, images, out, threads),
                log_path=self.work / f"logs/augment_{name}.log",
            )
            self.stop.check()
            if code != 0:
                raise UserError(f"drawing set {name} failed: see the log in {self.work}/logs")
            log(f"set {name} drawn in {time.monotonic() - started:.0f} s")
        return out

    def identity(self) -> dict:
        packed = self.work / "packed"
        stats = json.loads((packed / "stats.json").read_text())
        return {
            "archive": {
                "name": self.config["data"]["filename"],
                "md5": stats["archive_md5"],
                "size": stats["archive_size"],
            },
            "packed": {name: content_id(packed / name) for name in reference.PACKED_ARRAYS},
        }

    def save(self) -> None:
        reference.write_records(Path(self.args.out), self.manifest, self.files)

    @staticmethod
    def finished(out: Path, settings: dict) -> bool:
        """Whether ``out`` holds a finished run of these settings."""
        summary = out / "summary.json"
        if not (summary.is_file() and (out / "metrics.csv").is_file()):
            return False
        return json.loads(summary.read_text()).get("resolved") == settings

    def keep(self, experiment: str, seed: int, out: Path, settings: Path, log_path: Path) -> None:
        """A finished run's record into the records file."""
        prefix = f"runs/{experiment}/seed{seed}"
        for name in ("metrics.csv", "summary.json"):
            self.files[f"{prefix}/{name}"] = (out / name).read_bytes()
        self.files[f"{prefix}/settings.json"] = settings.read_bytes()
        # The log without the progress bar's redrawn lines (the last state of each line).
        lines = log_path.read_text(errors="replace").splitlines()
        self.files[f"{prefix}/train.log"] = "".join(
            line.split("\r")[-1] + "\n" for line in lines
        ).encode()

    def train(self, experiment: str, seed: int, settings: dict, projected: float) -> dict:
        settings_file = self.work / "settings" / f"{experiment}.json"
        settings_file.parent.mkdir(parents=True, exist_ok=True)
        settings_file.write_text(json.dumps(settings, sort_keys=True))
        augmented = {}
        if settings["augmentation"]["mode"] == "fixed":
            augmented = {name: self.augmented(name) for name in settings["augmentation"]["sets"]}
        entry = {"experiment": experiment, "seed": seed, "projected_seconds": round(projected)}
        out = self.work / "runs" / experiment / f"seed{seed}"
        log_path = self.work / "logs" / f"train_{experiment}_seed{seed}.log"
        if self.finished(out, settings):  # by an earlier call with this --work: sent again
            self.keep(experiment, seed, out, settings_file, log_path)
            return {
                **entry,
                "status": "recorded",
                "earlier": True,
                **measured_times(out),
            }
        if not self.starts(projected):  # drawing a set may have used the time
            return {**entry, "status": "not started: no longer fits after drawing its sets"}
        started = time.monotonic()
        checkpoint = checkpoint_path(self.work, experiment, seed)
        self.announce({"experiment": experiment, "seed": seed, "since": _now()})
        command = commands.train(
            settings_file,
            seed,
            self.work / "packed",
            augmented,
            out,
            checkpoint,
            hardware.usable_cores(),
        )
        code = self.job(*command, log_path=log_path, timeout=max(1.0, self.left()))
        self.announce(None)
        wall = round(time.monotonic() - started, 1)
        entry["wall_seconds"] = wall
        if code != 0:
            if self.stop.signum is not None:  # the runner's stop, passed on to the job
                status = self.stop.status(checkpoint.is_file())
            else:
                status = stop_status(code, checkpoint.is_file())
            tail = log_path.read_text(errors="replace").splitlines()[-5:]
            log(f"{experiment} seed {seed}: {status}\n  " + "\n  ".join(tail))
            return {**entry, "status": status, "log_tail": tail}
        entry.update(status="recorded", **measured_times(out))
        self.keep(experiment, seed, out, settings_file, log_path)
        summary = json.loads((out / "summary.json").read_text())
        log(
            f"{experiment} seed {seed}: {summary['best_val_acc']:.2f}% best top-1 "
            f"(epoch {summary['best_epoch']}), {wall:.0f} s against {projected:.0f} projected"
        )
        return entry

    def run(self) -> int:
        """The sitting, holding the work folder's lock; stopped by a signal to the runner
        (:class:`RunnerStop`), it records what it has, says why, and returns 128 + its number."""
        self.work.mkdir(parents=True, exist_ok=True)
        with work_lock(self.work, self.started) as self.lock_fd, self.stop.installed():
            try:
                return self.sitting()
            except Stopped as stopped:
                if self.manifest:
                    self.manifest["stopped"] = f"the runner received {stopped}"
                    self.manifest["seconds_used"] = round(self.args.budget - self.left(), 1)
                    self.save()
                done = sum(r["status"] == "recorded" for r in self.manifest.get("runs", []))
                log(
                    f"stopped by {stopped}: {done} runs recorded in {self.args.out}; a stopped "
                    "run resumes from its checkpoint at the next sitting"
                )
                return 128 + stopped.signum

    def sitting(self) -> int:
        archive = self.archive()
        self.data_stage(archive)
        self.manifest = {
            "created": datetime.now().astimezone().isoformat(timespec="seconds"),
            "identity": self.identity(),
            "code": {"commit": self.commit, "source_sha256": source_sha256()},
            "machine": machine(),
            "budget_seconds": self.args.budget,
            "config_files": list(self.args.config),
            "runs": [],
        }
        folder_identity = self.root / self.args.reference / "identity.json"
        if folder_identity.is_file():
            expected = json.loads(folder_identity.read_text())
            ours = self.manifest["identity"]
            differs = reference.differences({k: expected[k] for k in ("archive", "packed")}, ours)
            if differs:  # trained all the same: the merge decides, and says why it refuses
                self.manifest["identity_differs"] = differs
                log(f"WARNING: the data differs from {folder_identity}: {', '.join(differs)}")
        self.save()
        recorded = reference.runs_as_configured(self.root / self.args.reference, self.config)
        plan = [r for r in reference.plan(self.config, self.rates) if
                (r["experiment"], r["seed"]) not in recorded]  # fmt: skip
        if self.args.only:
            wanted = {(e, int(s)) for e, _, s in (o.rpartition(":") for o in self.args.only)}
            plan = [r for r in plan if (r["experiment"], r["seed"]) in wanted]
        log(
            f"{len(plan)} runs of the order to go on this {self.device} "
            f"({reference.describe_rates(self.rates)}); {self.left():.0f} s of the budget left"
        )
        for i, run in enumerate(plan):
            self.stop.check()
            experiment, seed, projected = run["experiment"], run["seed"], run["seconds"]
            entry = {"experiment": experiment, "seed": seed}
            if projected is not None:
                entry["projected_seconds"] = round(projected)
            if run["waits_for"]:  # never started on this kind of machine
                self.manifest["runs"].append(
                    {**entry, "status": f"not started: waits for {run['waits_for']}"}
                )
                continue
            if self.left() <= 0:
                log(f"the budget is spent: the {len(plan) - i} runs left are not started")
                break
            settings = training_settings(self.config, experiment)
            earlier = self.finished(self.work / "runs" / experiment / f"seed{seed}", settings)
            if not (earlier or self.starts(projected)):
                log(
                    f"{experiment} seed {seed}: projected {projected:.0f} s, "
                    f"{self.left():.0f} s left: not started"
                )
                self.manifest["runs"].append({**entry, "status": "not started: does not fit"})
                continue
            if not earlier:
                log(f"{experiment} seed {seed}: projected {projected:.0f} s; starting")
            self.manifest["runs"].append(self.train(experiment, seed, settings, projected))
            self.manifest["seconds_used"] = round(self.args.budget - self.left(), 1)
            self.save()
        self.stop.check()
        waiting = sum(r["status"].startswith("not started: waits") for r in self.manifest["runs"])
        if waiting:
            log(f"{waiting} runs of the order wait for another kind of machine (not started)")
        self.manifest["seconds_used"] = round(self.args.budget - self.left(), 1)
        self.save()
        done = sum(r["status"] == "recorded" for r in self.manifest["runs"])
        log(f"{done} runs recorded in {self.args.out}")
        return 0


def main(argv: list[str] | None = None, root: Path | None = None) -> int:
    """``tinycnn reference run ARGS``, in the repository's root (or ``root``): its config files,
    reference folder and rates file are relative to it, and its ``src/`` is what each job runs."""
    parser = argparse.ArgumentParser(
        prog="tinycnn reference run", description=__doc__.splitlines()[0]
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--parts", help="folder of part-1..N and SHA256SUMS (split's output)")
    source.add_argument(
        "--archive", help="the whole archive (default: the config's data.archive, e.g. "
        ".realdata/tiny-imagenet-200.zip of presets/real.yaml)"
    )  # fmt: skip
    parser.add_argument(
        "--work",
        default=str(WORK),
        help="working folder (data, runs, checkpoints, caches); default %(default)s, outside "
        "the work tree, so that a run stopped at the deadline resumes there next time",
    )
    parser.add_argument(
        "--out", help="the records file to write (.tar.gz; default WORK/records.tar.gz)"
    )
    parser.add_argument(
        "--resume-later",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start runs that do not fit the budget (stopped at the deadline, they resume from "
        "their checkpoint at the next sitting); default: on a CPU, where the work folder is kept",
    )
    parser.add_argument("--budget", type=float, required=True, help="seconds, from the start")
    parser.add_argument(
        "--commit",
        help="the commit of the code that runs (default: git rev-parse HEAD in the repository; "
        "name it where the copy has no .git, as on a GPU machine)",
    )
    parser.add_argument("--config", nargs="+", default=list(reference.CONFIG_FILES))
    parser.add_argument("--rates", default=reference.RATES, help="projected rates per model")
    parser.add_argument("--reference", default=reference.FOLDER, help="runs already recorded")
    parser.add_argument("--only", nargs="+", help="EXPERIMENT:SEED, only these (still in order)")
    args = parser.parse_args(argv)
    args.root = Path(root or Path.cwd())
    args.out = args.out or str(Path(args.work) / "records.tar.gz")
    args.commit = args.commit or git_commit(args.root)
    try:
        return Runner(args).run()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
