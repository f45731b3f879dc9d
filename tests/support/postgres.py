"""A real PostgreSQL server (Debian's packages) in a temporary directory, for tests.

initdb + pg_ctl on a free port on 127.0.0.1 with trust auth; as root it runs as the
`postgres` system user (PostgreSQL refuses to run as root).

Every server leaves its databases (pg_dumpall) and its log in `PostgresServer.dump_dir` (set
by tests/conftest.py) when it stops, and `dump_running()` does the same for the servers still
up: the privacy scan (tests/test_privacy_scan.py) reads them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import ClassVar

from joingate.testing.service import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return path


class PostgresServer:
    dump_dir: ClassVar[Path | None] = None
    started: ClassVar[list[PostgresServer]] = []  # every server started in this process

    def __init__(self, workdir: Path | None = None):
        # Its own directory under /tmp: as root the server runs as `postgres`, which cannot
        # enter pytest's root-only temporary directories.
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="joingate-pg-"))
        self.data = self.workdir / "pgdata"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.log = self.workdir / "postgres.log"
        self.up = False

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr or done.stdout}")

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        if not self.data.exists():
            self._run(_bin("initdb"), "-D", str(self.data), "--auth=trust", "-U", self.user,
                      "--no-sync", "-E", "UTF8")
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
                  "-c fsync=on", "start")
        self.up = True
        if self not in PostgresServer.started:
            PostgresServer.started.append(self)

    def stop_server(self) -> None:
        """Stop the server, keeping its data (start() brings it back on the same port); its
        databases are dumped first."""
        self.save_dump()
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.up = False

    @property
    def dump_path(self) -> Path | None:
        return None if self.dump_dir is None else self.dump_dir / f"{self.workdir.name}.sql"

    def save_dump(self) -> None:
        """Write every database (SQL text) and the server's log into `dump_dir`."""
        if self.dump_path is None:
            return
        self.dump_path.parent.mkdir(parents=True, exist_ok=True)
        if self.up:
            self.dump_path.write_text(self.dump_all())
        if self.log.exists():
            shutil.copyfile(self.log, self.dump_path.with_suffix(".log"))

    @classmethod
    def dump_running(cls) -> None:
        for server in cls.started:
            if server.up:
                server.save_dump()

    def stop(self) -> None:
        if self.data.exists():
            with contextlib.suppress(RuntimeError):  # already stopped
                self.stop_server()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """A new database, empty or a copy of `template` (a database name, with no session
        open on it); returns its postgresql:// URL."""
        name = name or f"jg_{uuid.uuid4().hex[:12]}"
        copy = ["-T", template] if template else []
        subprocess.run([_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", self.user, *copy, name], check=True, capture_output=True,
                       timeout=60)
        return self.url(name)

    def dump_all(self, url: str | None = None) -> str:
        """Every database as SQL text (pg_dumpall), or the one at `url` (pg_dump)."""
        which = [_bin("pg_dump"), url.rsplit("/", 1)[1]] if url else [_bin("pg_dumpall")]
        return subprocess.run([which[0], "-h", "127.0.0.1", "-p", str(self.port), "-U",
                               self.user, *which[1:]], check=True, capture_output=True,
                              text=True, timeout=120).stdout

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
