"""The import page's background jobs: what a job asked for, its state, and the registry.

A check or an import runs in a thread of its own (see :mod:`web.imports`); the page polls its
state. A passed check may keep its upload for the import that follows (``from_job``): the
registry hands it over once, and deletes kept uploads when their time is up or the check is
forgotten.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ImportJob", "JobRegistry", "Options", "RequestError", "remove_stale_uploads"]

# finished jobs are kept this long for the page to read, and at most this many
KEEP_SECONDS = 3600.0
KEEP_JOBS = 50
# upload folders left behind this long ago (a server stopped mid-job) go when an app starts
STALE_SECONDS = 86_400.0


class RequestError(ValueError):
    """A bad request: ``code`` is the page's label key, ``field`` the form field at fault."""

    def __init__(self, code: str, field: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.field = field
        self.status = status


@dataclass
class Options:
    """What the form asked for."""

    layer: str
    crs: int | None
    coords: str
    sheet: str | None
    dry_run: bool
    encoding: str | None = None
    district: str | None = None
    # header → field, from the uploaded mapping file
    mapping: dict[str, str] | None = None
    # who asked (X-Gridmap-User), recorded in the grid history
    user: str = "web import"


@dataclass
class ImportJob:
    """One check or import running (or run) in the background."""

    id: str
    layer: str
    dry_run: bool
    source: str
    folder: Path
    state: str = "running"
    phase: str = "queued"
    read: int = 0
    total: int | None = None
    report: dict[str, Any] | None = None
    error: str | None = None
    error_kind: str | None = None
    preview: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    # a check's: its options, what from_job must match (see _option_key), its saved files
    # (the main one first) and what became of them: None while running, "kept" (until
    # ``kept_until``), "rejected", "failed", "off" (keeping disabled), then "used", "expired"
    options: Options | None = None
    key: tuple | None = None
    files: list[str] = field(default_factory=list)
    upload: str | None = None
    kept_until: float | None = None

    def as_json(self, *, with_preview: bool = True) -> dict[str, Any]:
        """The job as ``GET /api/import/jobs/<id>`` answers it."""
        end = self.finished or time.time()
        out = {"job": self.id, "layer": self.layer, "dry_run": self.dry_run,
               "source": self.source, "state": self.state, "phase": self.phase,
               "read": self.read, "total": self.total, "report": self.report,
               "error": self.error, "error_kind": self.error_kind,
               "preview_ready": self.preview is not None,
               "reusable": self.upload == "kept",
               "seconds": round(end - self.started, 2)}
        if with_preview:
            out["preview"] = self.preview
        return out


class JobRegistry:
    """The app's import jobs, by id (shared by the request threads and the job threads)."""

    def __init__(self) -> None:
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> ImportJob | None:
        """The job ``job_id`` (None when unknown or forgotten)."""
        with self._lock:
            self._sweep()
            return self._jobs.get(job_id)

    def running(self) -> int:
        """How many jobs are running now."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.state == "running")

    def add(self, job: ImportJob) -> None:
        """Register ``job``, forgetting finished jobs past their time or beyond the count."""
        with self._lock:
            now = time.time()
            done = sorted((j for j in self._jobs.values() if j.finished is not None),
                          key=lambda j: j.finished or 0.0)
            for j in done[:max(len(done) - KEEP_JOBS, 0)]:
                self._drop_upload(j, "expired")
                self._jobs.pop(j.id, None)
            for j in done:
                if now - (j.finished or now) > KEEP_SECONDS:
                    self._drop_upload(j, "expired")
                    self._jobs.pop(j.id, None)
            self._sweep()
            self._jobs[job.id] = job

    def keep(self, job: ImportJob, seconds: float) -> None:
        """Keep a passed check's upload for ``seconds`` (a timer deletes it then)."""
        with self._lock:
            job.kept_until = time.time() + seconds
            job.upload = "kept"
        timer = threading.Timer(seconds + 0.01, self.expire)
        timer.daemon = True
        timer.start()

    def expire(self) -> None:
        """Delete the kept uploads whose time is up."""
        with self._lock:
            self._sweep()

    def claim(self, job_id: str, key: tuple) -> ImportJob:
        """The passed check ``job_id`` whose kept upload an import takes over (marked used).

        Raises
        ------
        RequestError
            404 unknown, 409 running, failed, rejected rows or other options, 410 used or
            expired; the check is left as it was.
        """
        with self._lock:
            self._sweep()
            job = self._jobs.get(job_id)
            if job is None or not job.dry_run:
                raise RequestError("check_unknown", "from_job",
                                   f"no check {job_id[:40]!r} (it may have been forgotten or "
                                   "the server restarted): upload the file again", 404)
            if job.state == "running":
                raise RequestError("check_running", "from_job",
                                   "the check is still running: wait for it to pass", 409)
            refused = {
                "failed": ("check_failed", 409, "the check failed: fix the file and check it "
                                                "again"),
                "rejected": ("check_rejected", 409, "the check rejected rows: fix them and "
                                                    "check the file again"),
                "used": ("check_used", 410, "the checked upload was imported already: check "
                                            "the file again"),
                "expired": ("check_expired", 410, "the checked upload has expired: upload the "
                                                  "file again"),
                "off": ("check_expired", 410, "checked uploads are not kept: upload the file "
                                              "again"),
            }
            if job.upload != "kept":
                code, status, message = refused.get(job.upload or "failed", refused["failed"])
                raise RequestError(code, "from_job", message, status)
            if job.key != key:
                raise RequestError("options_changed", "from_job",
                                   "options changed since the check: the layer and options "
                                   "must be those checked (or upload the file again)", 409)
            job.upload = "used"
            job.kept_until = None
            return job

    def _sweep(self) -> None:
        # under the lock
        now = time.time()
        for j in self._jobs.values():
            if j.kept_until is not None and now >= j.kept_until:
                self._drop_upload(j, "expired")

    @staticmethod
    def _drop_upload(job: ImportJob, why: str) -> None:
        # under the lock: delete a kept upload
        if job.upload == "kept":
            job.upload = why
            job.kept_until = None
            shutil.rmtree(job.folder, ignore_errors=True)


def remove_stale_uploads(folder: Path, *, older_than_s: float = STALE_SECONDS) -> None:
    """Delete upload folders a job never finished with (the server stopped during the job)."""
    if not folder.is_dir():
        return
    now = time.time()
    for child in folder.iterdir():
        try:
            if child.is_dir() and now - child.stat().st_mtime > older_than_s:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:
            continue
