"""Where the local Label Studio server's settings come from.

Precedence for each value: command-line option > environment > local config file > default.

============  ==========================  ============================  =========================
value         environment                 config file key               default
============  ==========================  ============================  =========================
data dir      ``VNER_LS_DATA_DIR``        ``data_dir``                  ``work_dir()/label-studio``
port          ``VNER_LS_PORT``            ``port``                      8080
admin e-mail  ``VNER_LS_USERNAME``        ``username``                  ``admin@vner.local``
password      ``VNER_LS_PASSWORD``        ``password``                  generated, then saved
API token     ``VNER_LS_TOKEN``           ``token``                     generated, then saved
ML backend    ``VNER_BACKEND_PASSWORD``   ``backend_password``          generated, then saved
============  ==========================  ============================  =========================

The server only listens on loopback (``127.0.0.1``).

The config file is the first that exists of ``$VNER_LS_CONFIG``, ``work_dir()/studio.toml`` and
``$XDG_CONFIG_HOME/vner/studio.toml`` (``~/.config/vner/studio.toml``). It is git-ignored and
never committed. When a password or token is neither in the environment nor in that file,
:func:`load_settings` (with ``generate=True``) makes a random one and writes it to the file with
mode 0600. The secrets are never printed: commands print :attr:`Credentials.source`, the place
where they are stored.

The ML backend (``vner studio backend``) asks for HTTP basic auth: user ``vner-backend`` and the
``backend_password``; ``vner studio connect`` registers the same on the project. The annotators'
accounts (``vner studio users add``) are kept, with their generated passwords, in the team file
beside the config file (``studio-team.toml``, mode 0600).
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from corpus.paths import work_dir

HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_USERNAME = "admin@vner.local"

ENV_DATA_DIR = "VNER_LS_DATA_DIR"
ENV_PORT = "VNER_LS_PORT"
ENV_USERNAME = "VNER_LS_USERNAME"
ENV_PASSWORD = "VNER_LS_PASSWORD"
ENV_TOKEN = "VNER_LS_TOKEN"
ENV_CONFIG = "VNER_LS_CONFIG"
ENV_BACKEND_PASSWORD = "VNER_BACKEND_PASSWORD"
BACKEND_USER = "vner-backend"
TEAM_NAME = "studio-team.toml"

CONFIG_NAME = "studio.toml"
# Label Studio stores legacy tokens in DRF's authtoken table (key: max 40 characters) and
# ignores a --user-token of 5 characters or fewer.
TOKEN_MIN, TOKEN_MAX = 6, 40
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-.]+$")


class SettingsError(ValueError):
    """The studio settings are invalid (bad port, bad e-mail, unreadable config file...)."""


@dataclass(frozen=True)
class Credentials:
    """The admin login. ``repr`` hides the secrets so they cannot leak through logs or tracebacks."""

    username: str
    password: str = field(repr=False)
    token: str = field(repr=False)
    source: str  # where the password and token are stored ("environment" or a file path)

    def secrets(self) -> tuple[str, str]:
        return self.password, self.token


@dataclass(frozen=True)
class StudioSettings:
    data_dir: Path
    port: int = DEFAULT_PORT
    host: str = HOST
    credentials: Credentials | None = None
    notes: tuple[str, ...] = ()  # human-readable remarks (e.g. "generated a new login in ...")
    port_chosen: bool = True  # False: nobody chose the port (option, environment, config): the default

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "label-studio.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "label-studio.log"

    @property
    def database(self) -> Path:
        return self.data_dir / "label_studio.sqlite3"


def config_candidates() -> list[Path]:
    """Config files in lookup order (``$VNER_LS_CONFIG`` alone when it is set)."""
    explicit = os.environ.get(ENV_CONFIG)
    if explicit:
        return [Path(explicit).expanduser()]
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [(work_dir() / CONFIG_NAME).absolute(), Path(xdg).expanduser() / "vner" / CONFIG_NAME]


def config_file() -> Path:
    """The config file in use: the first existing candidate, else where a new one is written."""
    candidates = config_candidates()
    return next((path for path in candidates if path.is_file()), candidates[0])


def _read_config(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read studio config ({exc})") from exc


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in escaped):
        raise SettingsError("config values must not contain control characters")
    return f'"{escaped}"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_str(key)


def _toml_scalars(values: dict) -> list[str]:
    lines = []
    for key, value in values.items():
        if isinstance(value, dict):
            continue
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        else:
            rendered = str(value) if isinstance(value, int) else _toml_str(str(value))
        lines.append(f"{_toml_key(key)} = {rendered}\n")
    return lines


def write_private_toml(path: Path, values: dict, header: str) -> None:
    """Write ``values`` (scalars, then tables of scalars) as TOML readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {header} (local, never commit this file).\n", *_toml_scalars(values)]
    for name, table in values.items():
        if isinstance(table, dict):
            lines += [f"\n[{_toml_key(name)}]\n", *_toml_scalars(table)]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_config(path: Path, values: dict) -> None:
    write_private_toml(path, values, "Label Studio login for `vner studio`")


def read_private_toml(path: Path) -> dict:
    """A 0600 TOML file of this module (``{}`` when absent); group/other permissions are removed."""
    values = _read_config(path)
    if values and path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return values


def team_file() -> Path:
    """Where `vner studio users add` keeps the accounts it created (beside the config file)."""
    return config_file().with_name(TEAM_NAME)


@dataclass(frozen=True)
class BackendCredentials:
    """The HTTP basic auth of the ML backend; ``repr`` hides the password."""

    username: str
    password: str = field(repr=False)
    source: str


def load_backend_credentials(generate: bool = True) -> BackendCredentials | None:
    """The ML backend's credential from ``$VNER_BACKEND_PASSWORD`` or the config file; with
    ``generate``, a missing one is created and saved to the config file (0600)."""
    if os.environ.get(ENV_BACKEND_PASSWORD):
        source = f"environment ({ENV_BACKEND_PASSWORD})"
        return BackendCredentials(BACKEND_USER, os.environ[ENV_BACKEND_PASSWORD], source)
    path = config_file()
    stored = read_private_toml(path)
    password = stored.get("backend_password")
    if not password:
        if not generate:
            return None
        password = secrets.token_urlsafe(24)
        _write_config(path, {**stored, "backend_password": password})
    return BackendCredentials(BACKEND_USER, str(password), str(path))


def _port(value: object, origin: str) -> int:
    try:
        port = int(str(value))
    except ValueError:
        raise SettingsError(f"{origin}: port must be a number, got {value!r}") from None
    if not 1 <= port <= 65535:
        raise SettingsError(f"{origin}: port {port} is out of range 1-65535")
    return port


def _check_credentials(username: str, token: str, origin: str) -> None:
    if not _EMAIL.match(username):
        raise SettingsError(f"{origin}: the Label Studio username must be an e-mail address, got {username!r}")
    if not (TOKEN_MIN <= len(token) <= TOKEN_MAX and _TOKEN.match(token)):
        raise SettingsError(
            f"{origin}: the API token must be {TOKEN_MIN}-{TOKEN_MAX} characters of letters, digits, '-', '_' or '.'"
        )


def load_credentials(generate: bool = True) -> tuple[Credentials | None, tuple[str, ...]]:
    """The admin login from the environment or the config file.

    With ``generate``, a missing password or token is created and saved to the config file (0600).
    Without it, ``None`` is returned when the login is incomplete.
    """
    path = config_file()
    stored = _read_config(path)
    notes: list[str] = []
    if stored and path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
        notes.append(f"tightened permissions of {path} to 0600")

    username = os.environ.get(ENV_USERNAME) or stored.get("username") or DEFAULT_USERNAME
    password = os.environ.get(ENV_PASSWORD) or stored.get("password")
    token = os.environ.get(ENV_TOKEN) or stored.get("token")
    in_env = [name for name in (ENV_PASSWORD, ENV_TOKEN) if os.environ.get(name)]

    if not (password and token):
        if not generate:
            return None, tuple(notes)
        updated = dict(stored)
        updated.setdefault("username", username)
        if not password:
            password = updated["password"] = secrets.token_urlsafe(18)
        if not token:
            token = updated["token"] = secrets.token_hex(20)  # 40 characters: the legacy-token maximum
        _write_config(path, updated)
        notes.append(f"generated a new Label Studio login and saved it to {path} (mode 0600)")

    if len(in_env) == 2:
        source = f"environment ({ENV_PASSWORD}, {ENV_TOKEN})"
    elif in_env:
        source = f"environment ({in_env[0]}) and {path}"
    else:
        source = str(path)
    _check_credentials(str(username), str(token), source)
    return Credentials(str(username), str(password), str(token), source), tuple(notes)


def load_settings(
    *,
    port: int | None = None,
    data_dir: str | Path | None = None,
    with_credentials: bool = True,
    generate: bool = True,
) -> StudioSettings:
    """Resolve the settings. ``stop``/``status`` pass ``generate=False`` so they never write files."""
    stored = _read_config(config_file())
    if port is not None:
        chosen_port = _port(port, "--port")
    elif os.environ.get(ENV_PORT):
        chosen_port = _port(os.environ[ENV_PORT], ENV_PORT)
    elif "port" in stored:
        chosen_port = _port(stored["port"], f"{config_file()}: port")
    else:
        chosen_port = DEFAULT_PORT
    chosen = port is not None or bool(os.environ.get(ENV_PORT)) or "port" in stored

    chosen_dir = data_dir or os.environ.get(ENV_DATA_DIR) or stored.get("data_dir") or work_dir() / "label-studio"
    credentials, notes = load_credentials(generate=generate) if with_credentials else (None, ())
    return StudioSettings(
        data_dir=Path(chosen_dir).expanduser().resolve(),
        port=chosen_port,
        credentials=credentials,
        notes=notes,
        port_chosen=chosen,
    )
