"""The vLLM adapter client speaks vLLM's runtime-LoRA protocol (checked against a loopback server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from aoi.training.vllm_client import VllmAdapterClient, VllmAdapterError


class FakeVllm:
    """Keeps a set of loaded adapters and answers like vLLM (200 text, 400 on a duplicate/unknown name)."""

    def __init__(self) -> None:
        self.loaded: dict[str, str] = {}
        self.requests: list[tuple[str, dict[str, Any], str | None]] = []

    def handle(self, path: str, body: dict[str, Any], auth: str | None) -> tuple[int, str]:
        self.requests.append((path, body, auth))
        if path == "/v1/load_lora_adapter":
            if body["lora_name"] in self.loaded:
                return 400, f"The lora adapter '{body['lora_name']}' has already been loaded."
            self.loaded[body["lora_name"]] = body["lora_path"]
            return 200, f"Success: LoRA adapter '{body['lora_name']}' added successfully."
        if path == "/v1/unload_lora_adapter":
            if body["lora_name"] not in self.loaded:
                return 404, f"The lora adapter '{body['lora_name']}' cannot be found."
            del self.loaded[body["lora_name"]]
            return 200, f"Success: LoRA adapter '{body['lora_name']}' removed successfully."
        return 500, "boom"


@pytest.fixture
def fake_vllm() -> Iterator[tuple[FakeVllm, str]]:
    fake = FakeVllm()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, text = fake.handle(self.path, body, self.headers.get("Authorization"))
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_load_adapter_posts_name_and_path_with_the_api_key(fake_vllm: tuple[FakeVllm, str]) -> None:
    fake, url = fake_vllm
    answer = VllmAdapterClient(url, api_key="k").load_adapter("aoi-observer", "/models/a1")
    assert "added successfully" in answer
    assert fake.loaded == {"aoi-observer": "/models/a1"}
    assert fake.requests[-1] == (
        "/v1/load_lora_adapter",
        {"lora_name": "aoi-observer", "lora_path": "/models/a1"},
        "Bearer k",
    )


def test_reloading_a_name_swaps_the_adapter(fake_vllm: tuple[FakeVllm, str]) -> None:
    fake, url = fake_vllm
    client = VllmAdapterClient(url)
    client.load_adapter("aoi-observer", "/models/a1")
    client.load_adapter("aoi-observer", "/models/a2")
    assert fake.loaded == {"aoi-observer": "/models/a2"}


def test_without_replace_a_duplicate_name_is_a_clear_error(fake_vllm: tuple[FakeVllm, str]) -> None:
    _, url = fake_vllm
    client = VllmAdapterClient(url)
    client.load_adapter("aoi-observer", "/models/a1")
    with pytest.raises(VllmAdapterError, match=r"400.*already been loaded") as info:
        client.load_adapter("aoi-observer", "/models/a2", replace=False)
    assert info.value.status == 400


def test_unreachable_server_names_the_url() -> None:
    client = VllmAdapterClient("http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(VllmAdapterError, match=r"127\.0\.0\.1:9/v1/load_lora_adapter"):
        client.load_adapter("x", "/p", replace=False)
