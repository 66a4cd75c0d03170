"""Starts the real reference-server binary on an ephemeral loopback port."""
import os
import pathlib
import subprocess

import pytest
from openai import OpenAI

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _binary() -> str:
    return os.environ.get("REFSERVER_BIN", str(ROOT / "target" / "debug" / "reference-server"))


def start(extra_env=None):
    env = dict(os.environ, REFSERVER_INDEX_PATH=":memory:", **(extra_env or {}))
    proc = subprocess.Popen(
        [_binary(), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r} {proc.stderr.read()}")
    return proc, line.removeprefix("listening on ")


@pytest.fixture(scope="session")
def base_url():
    proc, url = start()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def strict_base_url():
    proc, url = start({"REFSERVER_AUTH_MODE": "strict", "REFSERVER_API_KEYS": "sk-good-key-123456"})
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def flaky_base_url():
    # Every second embeddings request gets an injected 429 that asks for a 200 ms wait.
    proc, url = start({"REFSERVER_FAULTS": "kind=429,route=/v1/embeddings,every=2,retry_after=200ms"})
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture()
def client(base_url):
    return OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
