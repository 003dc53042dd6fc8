"""Hot-load (and unload) LoRA adapters into a running vLLM OpenAI-compatible server.

vLLM serves adapters by name next to its base model when started with ``--enable-lora`` and
``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``; ``POST /v1/load_lora_adapter {"lora_name", "lora_path"}``
adds one without a restart, ``POST /v1/unload_lora_adapter {"lora_name"}`` removes one. The path is
read by the *server*, so it must be visible on the server's filesystem. After loading, clients
select the adapter with ``model=<lora_name>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

VLLM_LORA_NAME = "aoi-observer"  # the name clients select the served adapter by (model=...)


class VllmAdapterError(RuntimeError):
    """The server refused or could not be reached; the message carries its status and body."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class VllmAdapterClient:
    """A small synchronous client for vLLM's runtime LoRA endpoints (base URL without ``/v1``)."""

    base_url: str
    api_key: str | None = None
    timeout_s: float = 30.0

    def _post(self, path: str, payload: dict[str, str]) -> str:
        url = self.base_url.rstrip("/") + path
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = httpx.post(url, json=payload, headers=headers, timeout=self.timeout_s)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise VllmAdapterError(f"POST {url} failed: {exc!r}") from exc
        if response.status_code >= 400:
            raise VllmAdapterError(
                f"POST {url} answered {response.status_code}: {response.text.strip()[:500]} "
                "(is vLLM running with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True?)",
                status=response.status_code,
            )
        return response.text

    def load_adapter(self, name: str, path: str, *, replace: bool = True) -> str:
        """Load adapter ``path`` as model ``name``; with ``replace``, unload an existing one first."""
        if not name.strip():
            raise ValueError("lora_name must not be empty")
        if replace:
            try:
                self.unload_adapter(name)
            except VllmAdapterError as exc:
                if exc.status not in (400, 404):  # "not loaded" is fine; anything else is not
                    raise
        return self._post("/v1/load_lora_adapter", {"lora_name": name, "lora_path": path})

    def unload_adapter(self, name: str) -> str:
        """Remove adapter ``name`` from the server."""
        return self._post("/v1/unload_lora_adapter", {"lora_name": name})
