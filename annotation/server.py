"""Run a local Label Studio (1.23.x) server in the background for the annotators.

Everything the server keeps lives in the settings' data dir: the SQLite database
(``label_studio.sqlite3``), media and exports, ``.env`` with the generated Django ``SECRET_KEY``
(it signs sessions and JWT tokens, so it must survive restarts; Label Studio writes it 0600), the
log (``label-studio.log``), the PID file (``label-studio.pid``) and the XDG config/cache dirs that
Label Studio would otherwise create in the user's home.

The admin user and its legacy API token are created on the first start (Label Studio only honours
``--enable-legacy-api-token`` / ``LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN`` when it creates the
organization). The login is passed through the child's environment, never on its command line
(``/proc/PID/cmdline`` is readable by every local user, ``/proc/PID/environ`` only by the owner).

``stop`` only ever signals the process recorded in the PID file, and only after checking that it
is a ``label-studio start`` for this very data dir.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from annotation.settings import Credentials, StudioSettings

FIRST_START_TIMEOUT = 300.0  # migrations, CPU-bound: 59-127 s measured on 2 shared, busy cores
RESTART_TIMEOUT = 120.0  # ~3-15 s normally; more if an interrupted first start must finish migrating
STOP_TIMEOUT = 15.0

# Variables the Label Studio server reads under three names each (``X``, ``LABEL_STUDIO_X``,
# ``HEARTEX_X``; see ``label_studio.core.utils.params.get_env``). Inherited values would silently
# change the user, host, port, database or secret key, so the child never inherits them.
_LS_ENV_NAMES = (
    "HOST",
    "PORT",
    "USERNAME",
    "PASSWORD",
    "USER_TOKEN",
    "BASE_DATA_DIR",
    "DATA_DIR",
    "DATABASE_NAME",
    "DJANGO_DB",
    "SECRET_KEY",
    "DEBUG",
    "LOG_LEVEL",
)
_OTHER_ENV_STRIP = ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")

# Networks the server refuses to contact (ML backends, webhooks, imports from URLs, media of
# exports): Label Studio 1.23's default list (``core.utils.io.validate_ip``) without the loopback
# networks 127.0.0.0/8 and ::1/128, so that an ML backend on this machine can be registered and
# called (tests/test_studio_team.py compares this with the installed list). Private networks,
# link-local (cloud metadata at 169.254.169.254) and the rest stay blocked.
LOOPBACK_SUBNETS = ("127.0.0.0/8", "::1/128")
BANNED_SUBNETS = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "233.252.0.0/24", "240.0.0.0/4", "255.255.255.255/32", "::/128", "::ffff:0:0/96",
    "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001:0000::/32", "2001:20::/28",
    "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
)


class StudioError(RuntimeError):
    """The server could not be started, stopped or inspected."""


class PortInUseError(StudioError):
    """Something already listens on the port the server should use."""

    def __init__(self, host: str, port: int, detail: str = "") -> None:
        self.port = port
        message = (
            f"port {port} on {host} is already in use; stop whatever listens there or choose "
            f"another port (vner studio start --port N, or VNER_LS_PORT)"
        )
        super().__init__(message + (f" ({detail})" if detail else ""))


@dataclass
class StartResult:
    pid: int
    url: str
    seconds: float
    first_start: bool
    already_running: bool = False
    token_ok: bool | None = None
    messages: list[str] = field(default_factory=list)


@dataclass
class StopResult:
    stopped: bool
    pid: int | None
    message: str


@dataclass
class ServerStatus:
    state: str  # "running", "stopped" or "stale"
    pid: int | None
    url: str | None
    healthy: bool
    message: str
    token_ok: bool | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"


# ----------------------------------------------------------------------------- processes


def label_studio_executable() -> str:
    beside = Path(sys.executable).parent / "label-studio"
    if beside.is_file():
        return str(beside)
    found = shutil.which("label-studio")
    if not found:
        raise StudioError("the `label-studio` command is not installed in this environment (pip install label-studio)")
    return found


def _cmdline(pid: int) -> list[str] | None:
    """The argv of process ``pid``, or None when it cannot be read."""
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self").exists():
        try:
            raw = proc.read_bytes()
        except OSError:
            return None
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part] or None
    try:  # no /proc (macOS): ask ps; paths with spaces make this approximate
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return out.stdout.split() or None


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _alive(pid: int) -> bool:
    try:  # reap it if it is our own exited child (otherwise it lingers as a zombie)
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_our_server(pid: int, data_dir: Path) -> tuple[bool, str]:
    """Whether ``pid`` is ``label-studio start ... --data-dir <data_dir>``; also a description of it."""
    argv = _cmdline(pid)
    if not argv:
        return False, "its command line cannot be read"
    described = " ".join(argv)[:200]
    is_ls = any(Path(arg).name == "label-studio" for arg in argv[:2]) and "start" in argv
    try:
        given = argv[argv.index("--data-dir") + 1]
    except (ValueError, IndexError):
        given = None
    if is_ls and given is not None and Path(given) == data_dir:
        return True, described
    return False, described


def _port_of(pid: int) -> int | None:
    argv = _cmdline(pid) or []
    try:
        return int(argv[argv.index("--port") + 1])
    except (ValueError, IndexError):
        return None


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _write_pid(pid_file: Path, pid: int) -> None:
    tmp = pid_file.with_suffix(".pid.tmp")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, pid_file)


def _signal_and_wait(pid: int, timeout: float) -> bool:
    """SIGTERM the server (its whole process group: it leads one), then SIGKILL after ``timeout``."""

    def send(sig: int) -> None:
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    send(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    send(signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


# ----------------------------------------------------------------------------- network


def port_in_use(host: str, port: int) -> str | None:
    """Why ``port`` cannot be used, or None when it is free.

    Label Studio itself probes ``localhost:port`` and, if anything answers, silently moves on to the
    next port; so both a failing bind and an answer on ``localhost`` count as "in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself does
        try:
            sock.bind((host, port))
        except OSError as exc:
            return f"cannot bind {host}:{port}: {exc.strerror or exc}"
    try:
        addresses = socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)
    except OSError:
        addresses = []
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(address) == 0:
                return f"something answers on localhost ({address[0]}) port {port}"
    return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


def _get(url: str, headers: dict[str, str] | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (urllib.error.URLError, OSError):
        return 0, b""


def health(url: str) -> bool:
    status, body = _get(f"{url}/health")
    if status != 200:
        return False
    try:
        return json.loads(body).get("status") == "UP"
    except (ValueError, AttributeError):
        return False


def token_works(url: str, credentials: Credentials) -> bool:
    """Whether the configured token authenticates (``GET /api/current-user/whoami``)."""
    status, body = _get(f"{url}/api/current-user/whoami", {"Authorization": f"Token {credentials.token}"})
    if status != 200:
        return False
    try:
        return json.loads(body).get("email", "").lower() == credentials.username.lower()
    except (ValueError, AttributeError):
        return False


# ----------------------------------------------------------------------------- start / stop / status


def child_environment(settings: StudioSettings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the ``label-studio`` process (contains the login: never log it)."""
    env = dict(os.environ if base is None else base)
    for name in _LS_ENV_NAMES:
        for prefix in ("", "LABEL_STUDIO_", "HEARTEX_"):
            env.pop(prefix + name, None)
    for name in _OTHER_ENV_STRIP:
        env.pop(name, None)
    data = settings.data_dir
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(data),
            "DJANGO_DB": "sqlite",
            "DATABASE_NAME": str(settings.database),
            # appdirs (Label Studio's config/cache dirs) follow XDG: keep them in the data dir.
            "XDG_CONFIG_HOME": str(data / "xdg" / "config"),
            "XDG_DATA_HOME": str(data / "xdg" / "data"),
            "XDG_CACHE_HOME": str(data / "xdg" / "cache"),
            "COLLECT_ANALYTICS": "false",
            "LATEST_VERSION_CHECK": "false",  # else every start asks pypi.org for the latest version
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            # Accounts only through an invite link (`vner studio users add`): open sign-up let anyone
            # who reaches the port create an account and read/export every task.
            "DISABLE_SIGNUP_WITHOUT_LINK": "true",
            # SSRF guards stay on (ML backend URLs and calls, webhooks, URL imports, export media),
            # with Label Studio's banned networks minus loopback, where `vner studio backend` runs.
            "SSRF_PROTECTION_ENABLED": "true",
            "ML_BLOCK_LOCAL_IP": "true",
            "USE_DEFAULT_BANNED_SUBNETS": "false",
            "USER_ADDITIONAL_BANNED_SUBNETS": ",".join(BANNED_SUBNETS),
            # Read only when the organization is created (first start).
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.credentials is not None:
        env["LABEL_STUDIO_USERNAME"] = settings.credentials.username
        env["LABEL_STUDIO_PASSWORD"] = settings.credentials.password
        env["LABEL_STUDIO_USER_TOKEN"] = settings.credentials.token
    return env


def server_command(settings: StudioSettings) -> list[str]:
    return [
        label_studio_executable(),
        "start",
        "--no-browser",
        "--data-dir",
        str(settings.data_dir),
        "--database",
        str(settings.database),
        "--internal-host",
        settings.host,
        "--port",
        str(settings.port),
        "--enable-legacy-api-token",
    ]


def _scrub(text: str, settings: StudioSettings) -> str:
    if settings.credentials is not None:
        for secret in settings.credentials.secrets():
            text = text.replace(secret, "********")
    return text


def _log_since(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def start(
    settings: StudioSettings,
    timeout: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> StartResult:
    """Start the server in the background and wait until ``GET /health`` answers.

    Returns at once (``already_running``) when this data dir's server is already up.
    Raises :class:`PortInUseError` when the port is taken, :class:`StudioError` otherwise.
    ``progress`` receives a line to show the user just before the server process is launched.
    """
    if settings.credentials is None:
        raise StudioError("start needs the admin login (load_settings(with_credentials=True))")
    messages: list[str] = []
    data = settings.data_dir

    pid = _read_pid(settings.pid_file)
    if pid is not None and _alive(pid):
        ours, described = _is_our_server(pid, data)
        if ours:
            port = _port_of(pid) or settings.port
            url = f"http://{settings.host}:{port}"
            ok = token_works(url, settings.credentials) if health(url) else None
            return StartResult(pid, url, 0.0, first_start=False, already_running=True, token_ok=ok)
        messages.append(f"removed stale PID file {settings.pid_file} (pid {pid} is another process: {described})")
        settings.pid_file.unlink(missing_ok=True)
    elif settings.pid_file.exists():
        messages.append(f"removed stale PID file {settings.pid_file} (pid {pid} is not running)")
        settings.pid_file.unlink(missing_ok=True)

    busy = port_in_use(settings.host, settings.port)
    if busy:
        raise PortInUseError(settings.host, settings.port, busy)

    first_start = not settings.database.exists()
    if timeout is None:
        timeout = FIRST_START_TIMEOUT if first_start else RESTART_TIMEOUT
    if progress is not None:
        if first_start:
            progress(f"first start in {data}: creating the database (migrations: 1-2 minutes)...")
        else:
            progress(f"starting Label Studio on {settings.url}...")
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    for sub in ("xdg/config", "xdg/data", "xdg/cache"):
        (data / sub).mkdir(parents=True, exist_ok=True)

    log_offset = settings.log_file.stat().st_size if settings.log_file.exists() else 0
    began = time.monotonic()
    with settings.log_file.open("ab") as log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"\n==== vner studio start {stamp} port {settings.port} ====\n".encode())
        log.flush()
        os.chmod(settings.log_file, 0o600)
        process = subprocess.Popen(
            server_command(settings),
            cwd=data,
            env=child_environment(settings),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own session and process group: survives the CLI, stopped as a group
            close_fds=True,
        )
    _CHILDREN[process.pid] = process
    _write_pid(settings.pid_file, process.pid)

    moved = f"Port {settings.port} is in use"
    while True:
        returncode = process.poll()
        output = _log_since(settings.log_file, log_offset)
        if returncode is not None:
            settings.pid_file.unlink(missing_ok=True)
            raise StudioError(
                f"label-studio exited with code {returncode} while starting; "
                f"last lines of {settings.log_file}:\n{_scrub(_tail(output), settings)}"
            )
        if moved in output:  # lost a race for the port: Label Studio picked another one by itself
            _signal_and_wait(process.pid, STOP_TIMEOUT)
            settings.pid_file.unlink(missing_ok=True)
            raise PortInUseError(settings.host, settings.port, "taken while the server was starting")
        if health(settings.url):
            break
        if time.monotonic() - began > timeout:
            _signal_and_wait(process.pid, STOP_TIMEOUT)
            settings.pid_file.unlink(missing_ok=True)
            raise StudioError(
                f"label-studio did not answer {settings.url}/health within {timeout:.0f} s; stopped it. "
                f"Last lines of {settings.log_file}:\n{_scrub(_tail(output), settings)}"
            )
        time.sleep(0.25)

    seconds = time.monotonic() - began
    ok = token_works(settings.url, settings.credentials)
    if not ok:
        messages.append(
            "the configured API token is not accepted by this server: its database was initialized with "
            "another login or without legacy tokens; create a personal access token in the UI "
            "(Account & Settings) and put it in VNER_LS_TOKEN or the config file"
        )
    return StartResult(process.pid, settings.url, seconds, first_start, token_ok=ok, messages=messages)


# Popen objects of servers started by this process, so that stop() can reap them.
_CHILDREN: dict[int, subprocess.Popen] = {}


def stop(settings: StudioSettings, timeout: float = STOP_TIMEOUT) -> StopResult:
    """Stop the server recorded in the data dir's PID file, after checking that it is ours."""
    pid_file = settings.pid_file
    if not pid_file.exists():
        return StopResult(False, None, f"not running: no PID file at {pid_file}")
    pid = _read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return StopResult(False, None, f"stale PID file {pid_file} (no valid PID in it): removed it")
    if not _alive(pid):
        pid_file.unlink(missing_ok=True)
        _CHILDREN.pop(pid, None)
        return StopResult(False, pid, f"stale PID file {pid_file}: process {pid} is not running; removed the file")
    ours, described = _is_our_server(pid, settings.data_dir)
    if not ours:
        pid_file.unlink(missing_ok=True)
        return StopResult(
            False,
            pid,
            f"stale PID file {pid_file}: process {pid} is not the label-studio server of {settings.data_dir} "
            f"({described}); left it alone and removed the file",
        )
    if not _signal_and_wait(pid, timeout):
        raise StudioError(f"label-studio (pid {pid}) did not exit after SIGTERM and SIGKILL")
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.poll()
    pid_file.unlink(missing_ok=True)
    return StopResult(True, pid, f"stopped label-studio (pid {pid})")


def running_settings(settings: StudioSettings) -> StudioSettings:
    """``settings`` aimed at the port this data dir's server was started on, unless a port was chosen.

    `vner studio start --port 8090` records nothing but its PID file; the port is read back from
    that process's command line, so `init`, `push`, ... in the same shell find the server.
    """
    if settings.port_chosen:
        return settings
    pid = _read_pid(settings.pid_file)
    if pid is None or not _alive(pid) or not _is_our_server(pid, settings.data_dir)[0]:
        return settings
    port = _port_of(pid)
    return replace(settings, port=port) if port else settings


def status(settings: StudioSettings) -> ServerStatus:
    """Whether this data dir's server runs, and whether it answers ``/health``."""
    pid_file = settings.pid_file
    pid = _read_pid(pid_file)
    if pid is None:
        if pid_file.exists():
            return ServerStatus("stale", None, None, False, f"stale PID file {pid_file} (no valid PID in it)")
        note = ""
        if health(settings.url):
            note = f"; note: another Label Studio (not started by vner for this data dir) answers at {settings.url}"
        return ServerStatus("stopped", None, None, False, f"not running (data dir {settings.data_dir}){note}")
    if not _alive(pid):
        return ServerStatus("stale", pid, None, False, f"stale PID file {pid_file}: process {pid} is not running")
    ours, described = _is_our_server(pid, settings.data_dir)
    if not ours:
        return ServerStatus(
            "stale", pid, None, False, f"stale PID file {pid_file}: process {pid} is not label-studio ({described})"
        )
    url = f"http://{settings.host}:{_port_of(pid) or settings.port}"
    healthy = health(url)
    token_ok = token_works(url, settings.credentials) if healthy and settings.credentials else None
    state_note = "answers /health" if healthy else "does not answer /health yet (starting, or stuck: see the log)"
    return ServerStatus("running", pid, url, healthy, f"running (pid {pid}) at {url}, {state_note}", token_ok)
