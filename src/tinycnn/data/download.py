"""Download a file from a list of URLs, resumable and verified by size and MD5.

``fetch`` streams into ``<dest>.part`` beside the destination, resumes it with
an HTTP ``Range`` request after an interruption (also across process restarts),
retries transient failures with exponential backoff, and renames the part into
place only once its size and MD5 match. ``file://`` URLs go through the same
path, so a local archive is verified exactly like a download.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from tqdm import tqdm

from tinycnn.shared.errors import UserError

CHUNK_SIZE = 1 << 20
USER_AGENT = "tinycnn-download/0.1 (Python urllib)"
# Snakemake merges a mapping given with --config into the config (a dotted key is refused).
LOCAL_ARCHIVE_HINT = (
    "download {name} on a machine with internet and set `data.archive: /path/to/{name}` "
    'in config.yaml, or add `--config "data={{archive: /path/to/{name}}}"` to the snakemake '
    "command"
)


class _Transient(Exception):
    """A failure worth retrying on the same URL (network hiccup, HTTP 5xx or 429)."""


class _SourceFailed(Exception):
    """A failure that retrying the same URL will not fix (HTTP 404, missing file...)."""


class _WrongFile(_SourceFailed):
    """The URL holds a file of the wrong size or checksum."""


class _Body(NamedTuple):
    stream: http.client.HTTPResponse | io.BufferedReader
    start: int  # offset in the file of the first byte of ``stream``
    length: int | None  # bytes ``stream`` should deliver, when known
    total: int | None  # size of the whole file, when known


def md5sum(path: str | os.PathLike[str]) -> str:
    """Return the hex MD5 of ``path``, read in chunks of ``CHUNK_SIZE`` bytes."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, md5: str, size: int | None) -> None:
    """Raise ``UserError`` unless ``path`` has ``size`` bytes (when given) and MD5 ``md5``."""
    reason = _check(Path(path), _normalize_md5(md5), size)
    if reason is not None:
        raise UserError(f"{path} is not the expected file: {reason}")


def fetch(
    urls: Sequence[str],
    dest: Path,
    md5: str,
    size: int | None = None,
    *,
    retries: int = 5,
    backoff: float = 2.0,
    timeout: float = 60.0,
    sleep: Callable[[float], object] = time.sleep,
    progress: bool = True,
) -> Path:
    """Download the first of ``urls`` that works to ``dest`` and verify it; return ``dest``.

    - URLs are tried in order (http, https or file). On each, transient
      failures are retried up to ``retries`` times in a row, waiting
      ``backoff * 2**n`` seconds before retry ``n``; an attempt that grows the
      partial file past its largest size so far starts a fresh run of retries.
      HTTP 4xx (except 416 and 429) moves on to the next URL at once.
    - A partial download (``<dest>.part``, also one left by a killed run) is
      resumed, from the next URL as well; one bigger than ``size`` is discarded.
    - A URL whose file has the wrong size (as announced by the server, or once
      complete) or the wrong MD5 counts as failed, and the next URL is tried (a
      mirror may hold a good copy); a wrong complete file is deleted first, so
      the next URL starts from scratch. If every URL fails, one ``UserError``
      lists each URL with its reason and says what to do.
    - An existing ``dest`` that verifies is returned without any network access.
      One that does not verify is moved aside to ``<dest>.corrupt-<timestamp>``
      (never overwritten), unless it is itself one of the ``file://`` sources:
      then it is left alone and the mismatch is the error.
    - Local ``file://`` sources are only read, never modified.
    """
    if isinstance(urls, str):
        urls = [urls]
    if not urls:
        raise UserError(f"no URL given to download {Path(dest).name} from")
    for url in urls:
        _scheme(url)
    dest = Path(dest)
    md5 = _normalize_md5(md5)

    if dest.exists():
        reason = _check(dest, md5, size)
        if reason is None:
            _note(f"{dest}: already there and verified (MD5 {md5})")
            return dest
        if any(_is_file(url, dest) for url in urls):
            raise UserError(f"{dest} is not the expected file: {reason}")
        aside = dest.with_name(f"{dest.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(dest, aside)
        _note(f"{dest} is not the expected file ({reason}); moved it to {aside}")

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if size is not None and _size(part) > size:
        _note(f"discarding {part}: {_size(part):,} bytes, more than the expected {size:,}")
        part.unlink()

    if size is not None:
        missing, free = size - _size(part), shutil.disk_usage(dest.parent).free
        if free < missing:
            raise UserError(
                f"cannot write {dest}: not enough disk space; the download needs {missing:,} "
                f"bytes more, {free:,} are free in {dest.parent}. Free some space and run again "
                f"(the partial download {part.name} is kept and resumed)."
            )

    failures: list[str] = []
    wrong_file = False
    stale = part.exists()  # bytes left by an earlier run (perhaps of another file) are in it
    for url in urls:
        try:
            _download(url, part, size, retries, backoff, timeout, sleep, progress)
            reason = _check(part, md5, size)
            if reason is not None and stale:
                # The earlier part, not this source, may be what is wrong: start over once.
                _note(
                    f"{part.name}, resumed from a partial download left by an earlier run, does "
                    f"not verify ({reason}): that part was of another file or damaged; "
                    f"downloading {url} again from byte 0"
                )
                part.unlink()
                stale = False
                _download(url, part, size, retries, backoff, timeout, sleep, progress)
                reason = _check(part, md5, size)
            if reason is not None:
                part.unlink()
                stale = False
                raise _WrongFile(f"got the wrong file: {reason}; deleted {part.name}")
        except _SourceFailed as exc:
            wrong_file |= isinstance(exc, _WrongFile)
            failures.append(f"{url}: {exc}")
            if url != urls[-1]:
                _note(f"{url} failed: {exc}; trying the next URL")
            continue
        except OSError as exc:
            raise UserError(
                f"cannot write the download to {part}: {exc.strerror or exc}. Free some disk "
                f"space or fix the permissions of {part.parent}, then run again."
            ) from exc
        with open(part, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(part, dest)
        _note(f"{dest}: verified ({_size(dest):,} bytes, MD5 {md5}), from {url}")
        return dest
    raise UserError(_failure_message(urls, dest, md5, size, failures, wrong_file))


def _failure_message(
    urls: Sequence[str],
    dest: Path,
    md5: str,
    size: int | None,
    failures: list[str],
    wrong_file: bool,
) -> str:
    expected = f"MD5 {md5}" + (f", {size:,} bytes" if size is not None else "")
    lines = [f"could not get {dest.name} ({expected}) from any source:"]
    lines += [f"  - {failure}" for failure in failures]
    lines.append("What to do:")
    remote = any(_scheme(url) != "file" for url in urls)
    if remote:
        lines.append("  - run again: a partial download is resumed, a wrong one starts afresh")
    if wrong_file:
        lines.append(
            "  - if the same mismatch comes back, check that the md5 and size in the config "
            "are right for this file"
        )
    elif not remote:
        lines.append("  - check that the local file exists and is readable")
    if remote:
        lines.append("  - without internet here: " + LOCAL_ARCHIVE_HINT.format(name=dest.name))
    return "\n".join(lines)


def _download(
    url: str,
    part: Path,
    size: int | None,
    retries: int,
    backoff: float,
    timeout: float,
    sleep: Callable[[float], object],
    progress: bool,
) -> None:
    """Bring ``part`` to completion from ``url``, retrying transient failures."""
    largest = _size(part)
    in_a_row = 0
    while True:
        try:
            _transfer(url, part, size, timeout, progress)
            return
        except _Transient as exc:
            grew = _size(part) > largest
            largest = max(largest, _size(part))
            in_a_row = 1 if grew else in_a_row + 1
            if in_a_row > retries:
                raise _SourceFailed(f"{exc} (gave up after {retries} retries)") from exc
            delay = backoff * 2 ** (in_a_row - 1)
            _note(f"{url}: {exc}; retry {in_a_row}/{retries} in {delay:g} s")
            sleep(delay)


def _transfer(url: str, part: Path, size: int | None, timeout: float, progress: bool) -> None:
    """Make one attempt to append the rest of the file at ``url`` to ``part``."""
    offset = _size(part)
    body = _open(url, offset, timeout)
    if body is None:  # HTTP 416: nothing left after ``offset``, the part is complete
        return
    if size is not None and body.total is not None and body.total != size:
        body.stream.close()
        raise _WrongFile(f"the file there has {body.total:,} bytes (expected {size:,})")
    if body.start:
        _note(f"resuming {part.name} at byte {body.start:,} from {url}")
    elif offset:
        _note(f"{url} does not resume downloads; restarting {part.name} from byte 0")
    received = 0
    with (
        body.stream as src,
        open(part, "ab") as out,
        tqdm(
            total=size if size is not None else body.total,
            initial=body.start,
            desc=part.name.removesuffix(".part"),
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            mininterval=0.5 if sys.stderr.isatty() else 10.0,
            disable=not progress,
        ) as bar,
    ):
        out.truncate(body.start)
        while True:
            try:  # read1: write what has arrived, so an interruption loses nothing
                chunk = src.read1(CHUNK_SIZE)
            except (OSError, http.client.HTTPException) as exc:
                raise _Transient(_reason(exc)) from exc
            if not chunk:
                break
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if body.length is not None and received < body.length:
        raise _Transient(
            f"connection closed after {body.start + received:,} of "
            f"{body.start + body.length:,} bytes"
        )


def _open(url: str, offset: int, timeout: float) -> _Body | None:
    """Open ``url`` from byte ``offset`` on; None when nothing is left (HTTP 416)."""
    if _scheme(url) == "file":
        path = _local_path(url)
        try:
            fh = open(path, "rb")  # noqa: SIM115 (closed by the caller)
        except OSError as exc:
            raise _SourceFailed(f"cannot read {path}: {exc.strerror or exc}") from exc
        total = os.fstat(fh.fileno()).st_size
        start = offset if offset <= total else 0
        fh.seek(start)
        return _Body(fh, start, total - start, total)

    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return None
        reason = f"HTTP {exc.code} {exc.reason}"
        if exc.code == 429 or exc.code >= 500:
            raise _Transient(reason) from exc
        raise _SourceFailed(reason) from exc
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(getattr(exc, "reason", exc), socket.gaierror):
            # The name does not resolve (offline, or a typo): retrying will not fix that.
            raise _SourceFailed(_reason(exc)) from exc
        raise _Transient(_reason(exc)) from exc

    if resp.status != 206:  # 200: the server sends the whole file, Range or not
        return _Body(resp, 0, resp.length, resp.length)
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", ""))
    if match is None or int(match[1]) > offset:
        resp.close()
        raise _SourceFailed(
            f"bad answer to `Range: bytes={offset}-`: "
            f"Content-Range {resp.headers.get('Content-Range')!r}"
        )
    total = None if match[2] == "*" else int(match[2])
    return _Body(resp, int(match[1]), resp.length, total)


def _scheme(url: str) -> str:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise UserError(
            f"cannot download {url!r}: unsupported URL scheme {scheme!r}; use http://, "
            "https:// or file:// (a local path as file:///absolute/path)"
        )
    return scheme


def _local_path(url: str) -> Path:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise _SourceFailed(f"file URL on another host ({parts.netloc}) is not supported")
    return Path(urllib.request.url2pathname(parts.path))


def _is_file(url: str, path: Path) -> bool:
    """Whether ``url`` is a file:// URL naming ``path`` itself."""
    if _scheme(url) != "file":
        return False
    try:
        return _local_path(url).samefile(path)
    except (OSError, _SourceFailed):
        return False


def _check(path: Path, md5: str, size: int | None) -> str | None:
    """Return why ``path`` is not the expected file, or None when it is."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"{actual_size:,} bytes (expected {size:,})"
    actual = md5sum(path)
    if actual != md5:
        return f"MD5 {actual} (expected {md5})"
    return None


def _normalize_md5(md5: str) -> str:
    value = md5.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{32}", value):
        raise UserError(
            f"{md5!r} is not an MD5 checksum (32 hexadecimal digits); check the md5 in the config"
        )
    return value


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _reason(exc: BaseException) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason.strerror})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
