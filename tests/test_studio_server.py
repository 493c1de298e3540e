"""The local Label Studio server: settings, start/stop/status, against a real server (no mocks)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from studio_fixtures import Studio, free_port, run_cli

from annotation import server
from annotation.labeling_config import labeling_config
from annotation.settings import (
    DEFAULT_PORT,
    Credentials,
    SettingsError,
    StudioSettings,
    load_settings,
)
from corpus.schema import load_schema

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _sdk(studio: Studio, api_key: str | None = None):
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=studio.url, api_key=api_key or studio.credentials.token)


# ----------------------------------------------------------------------------- settings (no server)


def test_settings_generate_a_private_login_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VNER_LS_USERNAME", "VNER_LS_PASSWORD", "VNER_LS_TOKEN", "VNER_LS_PORT", "VNER_LS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "cfg" / "studio.toml"
    monkeypatch.setenv("VNER_LS_CONFIG", str(config))

    assert load_settings(generate=False).credentials is None
    assert not config.exists(), "status/stop must not write a login file"

    first = load_settings()
    creds = first.credentials
    assert creds is not None and creds.source == str(config)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert first.host == "127.0.0.1" and first.port == DEFAULT_PORT
    assert first.data_dir == (Path(os.environ["VNER_HOME"]) / "label-studio").resolve()
    assert "@" in creds.username and len(creds.token) == 40
    assert creds.password not in repr(first) and creds.token not in repr(first)
    assert any(str(config) in note for note in first.notes)

    again = load_settings()
    assert again.credentials == creds and again.notes == ()

    monkeypatch.setenv("VNER_LS_TOKEN", "env-token-123")
    monkeypatch.setenv("VNER_LS_PORT", "9123")
    overridden = load_settings(port=9555, data_dir=tmp_path / "d")
    assert overridden.credentials.token == "env-token-123"
    assert overridden.credentials.password == creds.password
    assert overridden.port == 9555 and overridden.data_dir == (tmp_path / "d").resolve()
    assert load_settings().port == 9123

    monkeypatch.setenv("VNER_LS_USERNAME", "admin")
    with pytest.raises(SettingsError, match="e-mail"):
        load_settings()


# ----------------------------------------------------------------------------- real server


def test_health_answers(studio: Studio) -> None:
    with NO_PROXY.open(f"{studio.url}/health", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"status": "UP"}
    assert server.health(studio.url)


def test_start_output_names_the_login_store_but_no_secret(studio: Studio) -> None:
    out = studio.start_output
    assert studio.start_exit_code == 0
    assert f"Label Studio is running at {studio.url}" in out
    assert "stored in environment" in out and studio.credentials.username in out
    password, token = studio.credentials.secrets()
    log = studio.settings.log_file.read_text(errors="replace")
    pid = int(studio.settings.pid_file.read_text())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    for secret in (password, token):
        assert secret not in out
        assert secret not in log
        assert secret not in cmdline  # the login goes through the environment, not argv
    assert f"--port\0{studio.settings.port}" in cmdline and "--internal-host\x00127.0.0.1" in cmdline


def test_known_token_authenticates_sdk_and_server_accepts_labeling_config(studio: Studio) -> None:
    from label_studio_sdk.core.api_error import ApiError

    client = _sdk(studio)
    assert client.users.whoami().email == studio.credentials.username
    before = list(client.projects.list())

    config = labeling_config(load_schema())
    project = client.projects.create(title="vner config check", label_config=config)
    try:
        back = client.projects.get(project.id)
        assert back.label_config == config
        assert len(list(client.projects.list())) == len(before) + 1

        # A Vietnamese task and a span with code-point offsets round-trip unchanged.
        text = "Ngày 3-4, đồng chí Vũ Thị Hà, Phó Chủ tịch UBND huyện Hậu Lộc, dự hội nghị."
        client.projects.import_tasks(project.id, request=[{"text": text}])
        task = next(iter(client.tasks.list(project=project.id)))
        start = text.index("Vũ Thị Hà")
        end = start + len("Vũ Thị Hà")
        region = {
            "from_name": "label",
            "to_name": "text",
            "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": ["OFFICIAL"]},
        }
        client.annotations.create(task.id, result=[region])
        stored = client.annotations.list(task.id)[0].result[0]["value"]
        assert (stored["start"], stored["end"], stored["labels"]) == (start, end, ["OFFICIAL"])
        assert task.data["text"][stored["start"] : stored["end"]] == "Vũ Thị Hà"

        # The server validates configs: a broken one is refused (so acceptance above means something).
        with pytest.raises(ApiError):
            client.projects.create(title="broken", label_config='<View><Labels name="label" toName="nope"/></View>')
    finally:
        client.projects.delete(project.id)

    with pytest.raises(ApiError) as refused:
        _sdk(studio, api_key="0" * 40).projects.list()
    assert refused.value.status_code == 401


@pytest.mark.filterwarnings("ignore:The `parse_obj` method is deprecated")  # inside label_studio_sdk
def test_status_running_then_stopped_then_restart(studio: Studio) -> None:
    settings = studio.settings
    running = server.status(settings)
    assert running.state == "running" and running.healthy and running.token_ok
    assert running.url == studio.url and running.pid == int(settings.pid_file.read_text())

    cli = run_cli(["studio", "status", "--data-dir", str(settings.data_dir)], studio.env)
    assert cli.exit_code == 0 and f"url: {studio.url}" in cli.output
    password, token = studio.credentials.secrets()
    assert password not in cli.output and token not in cli.output

    # A personal access token (JWT signed with the SECRET_KEY kept in the data dir) must survive a restart.
    pat = _sdk(studio).tokens.create().token

    stopped = server.stop(settings)
    assert stopped.stopped and stopped.pid == running.pid
    assert not settings.pid_file.exists()
    assert not server.health(studio.url)
    assert server.status(settings).state == "stopped"
    cli = run_cli(["studio", "status", "--data-dir", str(settings.data_dir)], studio.env)
    assert cli.exit_code == 3 and "not running" in cli.output
    assert "no PID file" in server.stop(settings).message

    began = time.monotonic()
    restarted = server.start(settings)
    print(f"\nrestart: ready in {restarted.seconds:.1f} s ({time.monotonic() - began:.1f} s with checks)")
    assert not restarted.first_start and restarted.token_ok
    assert server.status(settings).state == "running"
    assert _sdk(studio, api_key=pat).users.whoami().email == studio.credentials.username
    assert server.start(settings).already_running


def test_stop_with_stale_pid_file_kills_nothing_else(tmp_path: Path) -> None:
    settings = StudioSettings(data_dir=tmp_path / "ls", port=free_port())
    settings.data_dir.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        settings.pid_file.write_text(f"{other.pid}\n")
        assert server.status(settings).state == "stale"
        result = server.stop(settings)
        assert not result.stopped and "stale PID file" in result.message and "left it alone" in result.message
        assert other.poll() is None, "stop must not kill a process that is not its label-studio server"
        assert not settings.pid_file.exists()
    finally:
        other.kill()
        other.wait()

    settings.pid_file.write_text(f"{other.pid}\n")  # now a dead PID
    result = server.stop(settings)
    assert not result.stopped and "stale PID file" in result.message and "not running" in result.message
    assert not settings.pid_file.exists()

    settings.pid_file.write_text("garbage\n")
    assert "stale PID file" in server.stop(settings).message


def test_stop_refuses_the_server_of_another_data_dir(studio: Studio, tmp_path: Path) -> None:
    """A PID file copied from elsewhere that points at a real label-studio does not stop it."""
    settings = StudioSettings(data_dir=tmp_path / "elsewhere", port=free_port())
    settings.data_dir.mkdir()
    pid = int(studio.settings.pid_file.read_text())
    settings.pid_file.write_text(f"{pid}\n")
    result = server.stop(settings)
    assert not result.stopped and "not the label-studio server of" in result.message
    assert server.health(studio.url) and server.status(studio.settings).pid == pid


def test_start_on_a_port_in_use_fails_clearly(tmp_path: Path) -> None:
    port = free_port()
    creds = Credentials("a@vner.test", "pw-123456", "token-123456", "test")
    settings = StudioSettings(data_dir=tmp_path / "ls", port=port, credentials=creds)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        began = time.monotonic()
        with pytest.raises(server.PortInUseError, match=f"port {port} .*already in use") as error:
            server.start(settings)
        assert error.value.port == port
        assert time.monotonic() - began < 5, "the port is checked before launching label-studio"

        env = {
            "VNER_HOME": str(tmp_path / "home"),
            "VNER_LS_USERNAME": creds.username,
            "VNER_LS_PASSWORD": creds.password,
            "VNER_LS_TOKEN": creds.token,
        }
        cli = run_cli(["studio", "start", "--port", str(port), "--data-dir", str(settings.data_dir)], env)
        assert cli.exit_code == 1 and f"port {port}" in cli.output
    assert not settings.pid_file.exists() and not settings.data_dir.exists()


def test_start_refuses_the_port_of_the_running_server(studio: Studio, tmp_path: Path) -> None:
    settings = StudioSettings(data_dir=tmp_path / "second", port=studio.settings.port, credentials=studio.credentials)
    with pytest.raises(server.PortInUseError, match=str(studio.settings.port)):
        server.start(settings)
    assert server.health(studio.url)


def test_child_environment_is_isolated(tmp_path: Path) -> None:
    creds = Credentials("a@vner.test", "pw-123456", "token-123456", "test")
    settings = StudioSettings(data_dir=tmp_path / "ls", port=8123, credentials=creds)
    inherited = {
        "HOST": "0.0.0.0",
        "PORT": "1",
        "USERNAME": "me",
        "PASSWORD": "x",
        "LABEL_STUDIO_PORT": "2",
        "HEARTEX_USERNAME": "y",
        "SECRET_KEY": "leak",
        "DJANGO_DB": "default",
        "PATH": "/usr/bin",
    }
    env = server.child_environment(settings, base=inherited)
    for name in ("HOST", "PORT", "USERNAME", "PASSWORD", "LABEL_STUDIO_PORT", "HEARTEX_USERNAME", "SECRET_KEY"):
        assert name not in env
    assert env["PATH"] == "/usr/bin" and env["DJANGO_DB"] == "sqlite"
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str(settings.data_dir)
    assert all(
        env[k].startswith(str(settings.data_dir)) for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")
    )
    assert env["COLLECT_ANALYTICS"] == "false" and env["SENTRY_DSN"] == ""
    # SSRF guards on, every default banned network but loopback still banned; sign-up by invitation only.
    assert env["ML_BLOCK_LOCAL_IP"] == "true" and env["SSRF_PROTECTION_ENABLED"] == "true"
    assert env["USE_DEFAULT_BANNED_SUBNETS"] == "false"
    banned = env["USER_ADDITIONAL_BANNED_SUBNETS"].split(",")
    assert "10.0.0.0/8" in banned and "169.254.0.0/16" in banned and "127.0.0.0/8" not in banned
    assert env["DISABLE_SIGNUP_WITHOUT_LINK"] == "true"
    assert env["LABEL_STUDIO_USER_TOKEN"] == creds.token
    command = server.server_command(settings)
    assert creds.token not in command and creds.password not in command
    assert command[command.index("--internal-host") + 1] == "127.0.0.1"
