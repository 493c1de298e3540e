"""A real Label Studio server for the tests (no mocks): import the ``studio`` fixture from here.

One server per test session, in a temporary data dir on a free loopback port, with a known admin
e-mail, password and legacy API token given through ``VNER_LS_*``. It is started through the
``vner studio start`` command (so its output can be checked for leaked secrets) and stopped by
PID at the end. The first start runs Label Studio's migrations (about a minute on 2 busy cores).
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import typer
from typer.testing import CliRunner

from annotation import server
from annotation.cli import register
from annotation.settings import Credentials, StudioSettings


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def studio_app() -> typer.Typer:
    """A root app with only this package's commands (the full ``vner`` imports every package)."""
    app = typer.Typer()

    @app.callback()
    def _root() -> None:  # keeps `studio` a subcommand group
        pass

    register(app)
    return app


def run_cli(args: list[str], env: dict[str, str]):
    """Run ``vner <args>`` in-process; returns click's Result (``output``, ``stderr``, ``exit_code``)."""
    return CliRunner().invoke(studio_app(), args, env=env, catch_exceptions=False)


@dataclass
class Studio:
    settings: StudioSettings
    env: dict[str, str]  # VNER_* environment under which it was started
    start_output: str
    start_exit_code: int
    start_seconds: float

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def credentials(self) -> Credentials:
        assert self.settings.credentials is not None
        return self.settings.credentials


@pytest.fixture(scope="session")
def studio(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("studio")
    credentials = Credentials(
        username="annotator-admin@vner.test",
        password=secrets.token_urlsafe(16),
        token=secrets.token_hex(20),
        source="environment (VNER_LS_PASSWORD, VNER_LS_TOKEN)",
    )
    settings = StudioSettings(data_dir=(root / "label-studio").resolve(), port=free_port(), credentials=credentials)
    env = {
        "VNER_HOME": str(root / "home"),
        "VNER_LS_CONFIG": str(root / "home" / "studio.toml"),  # never read the developer's own file
        "VNER_LS_USERNAME": credentials.username,
        "VNER_LS_PASSWORD": credentials.password,
        "VNER_LS_TOKEN": credentials.token,
    }
    began = time.monotonic()
    result = run_cli(["studio", "start", "--port", str(settings.port), "--data-dir", str(settings.data_dir)], env)
    seconds = time.monotonic() - began
    try:
        if result.exit_code != 0:
            pytest.fail(f"vner studio start failed ({result.exit_code}):\n{result.output}")
        yield Studio(settings, env, result.output, result.exit_code, seconds)
    finally:
        outcome = server.stop(settings)
        print(f"\n[studio fixture] first start {seconds:.1f} s; teardown: {outcome.message}")


def studio_cli(studio: Studio, *args: str):
    """``vner studio <args> --port <the fixture server's port>`` in-process, under the fixture's environment."""
    return run_cli(["studio", *args, "--port", str(studio.settings.port)], studio.env)


def studio_client(studio: Studio):
    """An :class:`annotation.client.StudioClient` for the fixture server (close it after use)."""
    from annotation.client import StudioClient

    return StudioClient(studio.url, studio.credentials.token)


def login_token(url: str, email: str, password: str) -> str | None:
    """Log in through the server's login form as a person would; that account's API token, or None when refused."""
    import re

    import httpx

    with httpx.Client(base_url=url, timeout=60, trust_env=False, follow_redirects=False) as browser:
        page = browser.get("/user/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        answer = browser.post("/user/login/", data={"email": email, "password": password,
                                                    "csrfmiddlewaretoken": csrf.group(1) if csrf else ""},
                              headers={"Referer": f"{url}/user/login/"})
        if answer.status_code != 302:
            return None
        token = browser.get("/api/current-user/token")
        return token.json()["token"] if token.status_code == 200 else None


@contextmanager
def serve_backend(app) -> Iterator[str]:
    """A FastAPI ``app`` (an ML backend) under uvicorn on a free loopback port, in a thread; its URL."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="ml-backend", daemon=True)
    thread.start()
    began = time.monotonic()
    while not server.started:
        if not thread.is_alive() or time.monotonic() - began > 30:
            pytest.fail("the ML backend did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
