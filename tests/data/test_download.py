"""Tests of tinycnn.data.download against a local HTTP server with fault injection."""

from __future__ import annotations

import hashlib
import http.server
import random
import re
import shlex
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tinycnn.data import download
from tinycnn.data.download import fetch, md5sum, verify
from tinycnn.shared.errors import UserError

PAYLOAD = random.Random(0).randbytes(200_000)
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SIZE = len(PAYLOAD)
K = 50_000  # where injected faults cut the transfer


class Server(http.server.ThreadingHTTPServer):
    """Serves ``files`` by path with Range support; ``plan`` injects faults per path.

    ``plan[path]`` is a list consumed one entry per request: an int answers with
    that HTTP status, ("drop", n) sends n body bytes then closes the connection,
    ("reset", n) sends n body bytes then resets the connection (TCP RST),
    ("stall", n) sends n body bytes then hangs until the test ends.

    Every request is recorded: its path and Range header (``requests``), the size of the file
    ``watch`` (the client's ``.part``, if set) when it arrived (``held``), and the answer's
    status and the body bytes actually sent (``answers``). With ``watch`` set, a reset waits
    until the client has written some of the bytes sent, so that there is something to resume.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.plan: dict[str, list[int | tuple[str, int]]] = {}
        self.ranges = True
        self.requests: list[tuple[str, str | None]] = []
        self.watch: Path | None = None
        self.held: list[int | None] = []
        self.answers: list[tuple[int, int]] = []
        self.released = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def range_headers(self, path: str) -> list[str | None]:
        return [rng for p, rng in self.requests if p == path]


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append((self.path, rng))
        srv.held.append(srv.watch.stat().st_size if srv.watch and srv.watch.exists() else None)
        plan = srv.plan.get(self.path, [])
        action = plan.pop(0) if plan else None
        if isinstance(action, int):
            srv.answers.append((action, 0))
            self.send_error(action)
            return
        if self.path not in srv.files:
            srv.answers.append((404, 0))
            self.send_error(404)
            return
        data = srv.files[self.path]
        start = 0
        if rng and srv.ranges:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng)[1])
            if start >= len(data):
                srv.answers.append((416, 0))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
            self.send_response(status)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            status = 200
            self.send_response(status)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if action is None:
            srv.answers.append((status, len(body)))
            self.wfile.write(body)
            return
        kind, n = action
        srv.answers.append((status, len(body[:n])))
        self.wfile.write(body[:n])
        self.wfile.flush()
        if kind == "stall":
            srv.released.wait(10)
        if kind == "reset":
            for _ in range(500):  # up to 5 s for the client to write what it received
                if srv.watch is None or (srv.watch.exists() and srv.watch.stat().st_size):
                    break
                time.sleep(0.01)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.wfile.close()
            self.connection.close()  # the last reference: closing now sends RST, not FIN
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.files["/tiny.zip"] = PAYLOAD
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield srv
    srv.released.set()
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "CHUNK_SIZE", 8192)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def get(urls: list[str], dest: Path, sleeps: Sleeps, **kwargs: object) -> Path:
    options = {"md5": MD5, "size": SIZE, "timeout": 5.0, "progress": False, **kwargs}
    return fetch(urls, dest, sleep=sleeps, **options)  # type: ignore[arg-type]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/tiny.zip"


def part_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def test_md5sum_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    assert md5sum(path) == MD5
    verify(path, MD5.upper(), SIZE)
    verify(path, MD5, None)
    with pytest.raises(UserError, match=r"200,000 bytes \(expected 199,999\)"):
        verify(path, MD5, SIZE - 1)
    other = "0" * 32
    with pytest.raises(UserError) as err:
        verify(path, other, SIZE)
    assert MD5 in str(err.value) and other in str(err.value) and str(path) in str(err.value)
    with pytest.raises(UserError, match="not an MD5"):
        verify(path, "abc", SIZE)


def test_http_download(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    dest = tmp_path / "res" / "tiny.zip"
    assert get([server.url("/tiny.zip")], dest, sleeps) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not part_of(dest).exists()
    assert server.range_headers("/tiny.zip") == [None]
    assert sleeps == []


def test_resume_after_dropped_connection(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    server.plan["/tiny.zip"] = [("drop", K)]
    dest = tmp_path / "tiny.zip"
    get([server.url("/tiny.zip")], dest, sleeps)
    assert server.range_headers("/tiny.zip") == [None, f"bytes={K}-"]
    assert dest.read_bytes() == PAYLOAD
    assert sleeps == [2.0]


def test_resume_after_timeout(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    server.plan["/tiny.zip"] = [("stall", K)]
    dest = tmp_path / "tiny.zip"
    get([server.url("/tiny.zip")], dest, sleeps, timeout=0.3)
    assert server.range_headers("/tiny.zip") == [None, f"bytes={K}-"]
    assert dest.read_bytes() == PAYLOAD


def test_resume_after_connection_reset(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    server.plan["/tiny.zip"] = [("reset", K)]
    dest = tmp_path / "tiny.zip"
    server.watch = part_of(dest)
    get([server.url("/tiny.zip")], dest, sleeps)
    # bytes in flight when the RST arrives may be lost: the client holds at most K, and more
    # than none (the server resets only once some have reached the part file)
    assert len(server.held) == 2 and server.held[0] is None
    held = server.held[1]
    assert held is not None and 0 < held <= K
    # ... and a true resume asks for exactly the rest, which is all the server sends
    assert server.range_headers("/tiny.zip") == [None, f"bytes={held}-"]
    assert server.answers == [(200, K), (206, SIZE - held)]
    assert sleeps == [2.0]
    assert dest.read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    server.ranges = False
    server.plan["/tiny.zip"] = [("drop", K)]
    dest = tmp_path / "tiny.zip"
    get([server.url("/tiny.zip")], dest, sleeps)
    assert server.range_headers("/tiny.zip") == [None, f"bytes={K}-"]
    assert dest.read_bytes() == PAYLOAD


def test_server_ignoring_range_that_always_drops_gives_up(
    server: Server, tmp_path: Path, sleeps: Sleeps
) -> None:
    server.ranges = False
    server.plan["/tiny.zip"] = [("drop", K)] * 10
    with pytest.raises(UserError, match=f"connection closed after {K:,} of {SIZE:,} bytes"):
        get([server.url("/tiny.zip")], tmp_path / "tiny.zip", sleeps, retries=3)
    # the first drop grows the part (fresh run of retries), the next ones do not
    assert sleeps == [2.0, 4.0, 8.0]
    assert len(server.requests) == 4


def test_leftover_part_from_killed_run_is_resumed(
    server: Server, tmp_path: Path, sleeps: Sleeps
) -> None:
    dest = tmp_path / "tiny.zip"
    part_of(dest).write_bytes(PAYLOAD[:K])
    get([server.url("/tiny.zip")], dest, sleeps)
    assert server.range_headers("/tiny.zip") == [f"bytes={K}-"]
    assert dest.read_bytes() == PAYLOAD
    assert not part_of(dest).exists()


def test_complete_part_answered_416_is_verified(
    server: Server, tmp_path: Path, sleeps: Sleeps
) -> None:
    dest = tmp_path / "tiny.zip"
    part_of(dest).write_bytes(PAYLOAD)
    get([server.url("/tiny.zip")], dest, sleeps)
    assert server.range_headers("/tiny.zip") == [f"bytes={SIZE}-"]
    assert dest.read_bytes() == PAYLOAD


def test_oversized_part_is_discarded(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    dest = tmp_path / "tiny.zip"
    part_of(dest).write_bytes(PAYLOAD + b"extra")
    get([server.url("/tiny.zip")], dest, sleeps)
    assert server.range_headers("/tiny.zip") == [None]
    assert dest.read_bytes() == PAYLOAD


def test_404_falls_through_to_mirror(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    server.files["/mirror/tiny.zip"] = PAYLOAD
    dest = tmp_path / "tiny.zip"
    get([server.url("/gone.zip"), server.url("/mirror/tiny.zip")], dest, sleeps)
    assert [p for p, _ in server.requests] == ["/gone.zip", "/mirror/tiny.zip"]
    assert sleeps == []
    assert dest.read_bytes() == PAYLOAD


def test_500_twice_then_success(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    server.plan["/tiny.zip"] = [500, 503]
    dest = tmp_path / "tiny.zip"
    get([server.url("/tiny.zip")], dest, sleeps, backoff=0.5)
    assert len(server.requests) == 3
    assert sleeps == [0.5, 1.0]
    assert dest.read_bytes() == PAYLOAD


def test_429_is_retried(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    server.plan["/tiny.zip"] = [429]
    get([server.url("/tiny.zip")], tmp_path / "tiny.zip", sleeps)
    assert len(server.requests) == 2 and sleeps == [2.0]


def test_every_url_failing_lists_each(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    server.plan["/tiny.zip"] = [500] * 10
    urls = [server.url("/tiny.zip"), server.url("/missing.zip")]
    with pytest.raises(UserError) as err:
        get(urls, tmp_path / "tiny.zip", sleeps, retries=2)
    message = str(err.value)
    assert f"{urls[0]}: HTTP 500" in message and "gave up after 2 retries" in message
    assert f"{urls[1]}: HTTP 404" in message
    assert "data.archive" in message
    assert len(server.requests) == 4 and sleeps == [2.0, 4.0]


def test_bad_checksum_deletes_and_explains(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    wrong = "f" * 32
    dest = tmp_path / "tiny.zip"
    url = server.url("/tiny.zip")
    with pytest.raises(UserError) as err:
        get([url], dest, sleeps, md5=wrong)
    message = str(err.value)
    assert url in message
    assert f"MD5 {MD5} (expected {wrong})" in message
    assert "run again" in message and "md5" in message and "data.archive" in message
    assert not dest.exists() and not part_of(dest).exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_checksum_falls_through_to_mirror(
    server: Server, tmp_path: Path, sleeps: Sleeps
) -> None:
    server.files["/bad.zip"] = bytes(SIZE)
    server.files["/mirror/tiny.zip"] = PAYLOAD
    dest = tmp_path / "tiny.zip"
    get([server.url("/bad.zip"), server.url("/mirror/tiny.zip")], dest, sleeps)
    assert dest.read_bytes() == PAYLOAD
    # the mirror starts afresh: the bad part was deleted
    assert server.range_headers("/mirror/tiny.zip") == [None]


def test_wrong_size_on_server_is_skipped(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    server.files["/short.zip"] = PAYLOAD[:1000]
    url = server.url("/short.zip")
    with pytest.raises(UserError) as err:
        get([url], tmp_path / "tiny.zip", sleeps)
    assert f"{url}: the file there has 1,000 bytes (expected {SIZE:,})" in str(err.value)
    assert "check that the md5 and size" in str(err.value)
    assert not part_of(tmp_path / "tiny.zip").exists()


def test_connection_refused_names_url_and_local_archive(tmp_path: Path, sleeps: Sleeps) -> None:
    url = closed_port_url()
    with pytest.raises(UserError) as err:
        get([url], tmp_path / "tiny.zip", sleeps, retries=2)
    message = str(err.value)
    assert url in message and "refused" in message.lower()
    assert "set `data.archive: /path/to/tiny.zip` in config.yaml" in message
    assert '--config "data={archive: /path/to/tiny.zip}"' in message
    assert sleeps == [2.0, 4.0]
    assert not (tmp_path / "tiny.zip").exists()


def test_file_url(tmp_path: Path, sleeps: Sleeps) -> None:
    source = tmp_path / "local" / "archive.zip"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    before = source.stat()
    dest = tmp_path / "res" / "tiny.zip"
    get([source.as_uri()], dest, sleeps)
    assert dest.read_bytes() == PAYLOAD
    assert source.read_bytes() == PAYLOAD and source.stat().st_mtime_ns == before.st_mtime_ns


def test_file_url_resumes_from_part(tmp_path: Path, sleeps: Sleeps) -> None:
    # The source's head is corrupt and the part holds the good head: the result
    # verifies only if the part was kept and the rest appended from byte K.
    source = tmp_path / "archive.zip"
    source.write_bytes(bytes(K) + PAYLOAD[K:])
    dest = tmp_path / "tiny.zip"
    part_of(dest).write_bytes(PAYLOAD[:K])
    get([source.as_uri()], dest, sleeps)
    assert dest.read_bytes() == PAYLOAD


def test_local_file_with_wrong_md5_is_refused_untouched(tmp_path: Path, sleeps: Sleeps) -> None:
    source = tmp_path / "archive.zip"
    bad = bytes(SIZE)
    source.write_bytes(bad)
    mtime = source.stat().st_mtime_ns
    dest = tmp_path / "res" / "tiny.zip"
    with pytest.raises(UserError) as err:
        get([source.as_uri()], dest, sleeps)
    message = str(err.value)
    assert source.as_uri() in message
    assert f"MD5 {hashlib.md5(bad).hexdigest()} (expected {MD5})" in message
    assert source.read_bytes() == bad and source.stat().st_mtime_ns == mtime
    assert not dest.exists() and not part_of(dest).exists()


def test_missing_local_file(tmp_path: Path, sleeps: Sleeps) -> None:
    url = (tmp_path / "nope.zip").as_uri()
    with pytest.raises(UserError, match=r"cannot read .*nope\.zip: No such file"):
        get([url], tmp_path / "tiny.zip", sleeps)
    assert sleeps == []


def test_verified_dest_short_circuits(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    dest = tmp_path / "tiny.zip"
    dest.write_bytes(PAYLOAD)
    assert get([server.url("/tiny.zip")], dest, sleeps) == dest
    assert server.requests == []


def test_bad_dest_is_moved_aside(server: Server, tmp_path: Path, sleeps: Sleeps) -> None:
    dest = tmp_path / "tiny.zip"
    dest.write_bytes(b"user data")
    get([server.url("/tiny.zip")], dest, sleeps)
    assert dest.read_bytes() == PAYLOAD
    (aside,) = tmp_path.glob("tiny.zip.corrupt-*")
    assert aside.read_bytes() == b"user data"


def test_bad_dest_that_is_the_source_is_left_alone(tmp_path: Path, sleeps: Sleeps) -> None:
    dest = tmp_path / "tiny.zip"
    dest.write_bytes(b"user data")
    with pytest.raises(UserError, match=r"tiny\.zip is not the expected file: 9 bytes"):
        get([dest.as_uri()], dest, sleeps)
    assert dest.read_bytes() == b"user data"
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.zip"]


def test_unsupported_scheme(tmp_path: Path, sleeps: Sleeps) -> None:
    with pytest.raises(UserError, match=r"unsupported URL scheme 'ftp'.*file://"):
        get(["ftp://example.org/tiny.zip"], tmp_path / "tiny.zip", sleeps)


def test_progress_on_stderr(
    server: Server, tmp_path: Path, sleeps: Sleeps, capsys: pytest.CaptureFixture[str]
) -> None:
    server.plan["/tiny.zip"] = [("drop", K)]
    get([server.url("/tiny.zip")], tmp_path / "tiny.zip", sleeps, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "tiny.zip" in captured.err and "100%" in captured.err
    assert f"resuming tiny.zip.part at byte {K:,}" in captured.err


# --- faults: offline, a stale partial download -----------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def test_unresolvable_host_fails_fast_without_retries(
    tmp_path: Path, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offline, every retry of a name lookup fails the same way: 2 minutes of backoff for nothing.
    def offline(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    url = "http://cs231n.example/tiny.zip"
    mirror = "https://mirror.example/tiny.zip"
    with pytest.raises(UserError) as err:
        get([url, mirror], tmp_path / "tiny.zip", sleeps)
    message = str(err.value)
    assert sleeps == []
    assert f"{url}: cannot resolve the host name" in message and mirror in message
    assert "without internet here" in message and "data.archive" in message


def test_offline_hint_is_a_command_snakemake_accepts(tmp_path: Path, sleeps: Sleeps) -> None:
    with pytest.raises(UserError) as err:
        get([closed_port_url()], tmp_path / "tiny.zip", sleeps, retries=0)
    match = re.search(r"`(--config .*?)`", str(err.value))
    assert match, str(err.value)
    local = tmp_path / "my copy" / "tiny-imagenet-demo.zip"
    args = shlex.split(match[1].replace("/path/to/tiny.zip", str(local)))
    work = tmp_path / "work"
    work.mkdir()
    command = [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1"]
    command += ["-s", str(ROOT / "Snakefile"), "--configfile", str(ROOT / "presets/demo.yaml")]
    result = subprocess.run(
        [*command, *args],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"tinycnn download --url {shlex.quote(local.as_uri())} " in result.stdout


def test_stale_part_of_another_file_restarts_instead_of_blaming_the_md5(
    server: Server, tmp_path: Path, sleeps: Sleeps, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "tiny.zip"
    part_of(dest).write_bytes(random.Random(1).randbytes(K))  # left by a download of another file
    get([server.url("/tiny.zip")], dest, sleeps)
    assert dest.read_bytes() == PAYLOAD
    assert server.range_headers("/tiny.zip") == [f"bytes={K}-", None]
    note = capsys.readouterr().err
    assert "left by an earlier run" in note and "from byte 0" in note
    assert sleeps == []


def test_stale_part_then_a_wrong_file_blames_the_file(
    server: Server, tmp_path: Path, sleeps: Sleeps
) -> None:
    dest = tmp_path / "tiny.zip"
    part_of(dest).write_bytes(random.Random(1).randbytes(K))
    server.files["/tiny.zip"] = PAYLOAD[:-1] + b"?"  # the server's file itself is not the one
    with pytest.raises(UserError, match="check that the md5 and size in the config"):
        get([server.url("/tiny.zip")], dest, sleeps)
    assert server.range_headers("/tiny.zip") == [f"bytes={K}-", None]
    assert not part_of(dest).exists()


def test_too_little_space_for_the_download_is_refused_before_it_starts(
    server: Server, tmp_path: Path, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "tiny.zip"
    part_of(dest).write_bytes(PAYLOAD[:K])
    usage = download.shutil.disk_usage(tmp_path)._replace(free=SIZE - K - 1)
    monkeypatch.setattr(download.shutil, "disk_usage", lambda path: usage)
    with pytest.raises(UserError) as err:
        get([server.url("/tiny.zip")], dest, sleeps)
    message = str(err.value)
    assert f"cannot write {dest}: not enough disk space" in message
    assert f"needs {SIZE - K:,} bytes more" in message
    assert server.requests == []
    assert part_of(dest).read_bytes() == PAYLOAD[:K]  # kept, to resume once there is room
