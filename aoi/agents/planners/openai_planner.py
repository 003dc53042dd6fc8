"""The ``openai`` planner: any OpenAI-compatible chat endpoint (vLLM, OpenAI, llama.cpp server).

Why the official ``openai`` client: every serious server speaks its protocol, and its typed errors let
us tell retryable failures (timeouts, connection errors, 429, 5xx, unusable bodies) from configuration
mistakes (400/401/404 — retrying those only burns the deadline). The SDK's own retries are disabled
(``max_retries=0``): this planner retries itself so it can honour ``Retry-After`` *within the
investigation's deadline* and report every attempt.

Modes: ``json`` (default) — the step schema is in the prompt and the answer is parsed and repaired as
text; ``tools`` — the read tools plus ``propose_action``/``submit_diagnosis`` are sent as native
function tools and a tool call becomes the step (a text answer is still accepted). Either way an
invalid answer is re-asked once with the validation error, then ``InvalidStepError`` /
``UnknownToolError`` is raised; an endpoint that stays down raises ``ModelUnavailableError``. The
Observer retries within budget and then falls back to the heuristic planner (diagnosis degraded).

Reasoning models (OpenAI's o-series, GPT-5) refuse ``max_tokens`` and any temperature but the default
with HTTP 400 naming the parameter. Such a refusal is not a configuration mistake the user must fix:
the planner switches to ``max_completion_tokens`` / leaves the temperature out, says so once in the
log, and sends the request again (each switch once per endpoint, ``EndpointQuirks``; the same 400
again is a real error).

The client's ``timeout`` limits each network read; ``RequestDeadline`` also limits the whole request,
so a server trickling its answer cannot hold a step past the investigation's deadline.

Settings (``AOI_LLM_BASE_URL``, ``AOI_LLM_MODEL``, ``AOI_LLM_API_KEY``) are read by the bot and passed
in; this module reads no environment.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal

import openai

from aoi.agents.planners.base import PlannerContext, PlannerOutput
from aoi.agents.planners.model_steps import (
    Completion,
    ModelMisconfiguredError,
    ModelUnavailableError,
    ask_for_step,
)
from aoi.agents.planners.prompt import (
    Message,
    ToolFormat,
    describe_policy_verbs,
    load_template,
    render_messages,
)
from aoi.agents.planners.request_deadline import RequestDeadline

log = logging.getLogger(__name__)

Mode = Literal["json", "tools"]
NO_KEY = "no-key-needed"  # the client insists on a key; local servers (vLLM, llama.cpp) ignore it


@dataclass
class EndpointQuirks:
    """What the endpoint turned out to refuse, learnt from its 400s. Shared by the planners of one
    endpoint (the bot builds a planner per investigation) so each refusal is met once per process."""

    token_param: str = "max_tokens"
    send_temperature: bool = True


def make_client(base_url: str, api_key: str | None, timeout_s: float) -> openai.OpenAI:
    """The client the planner uses: SDK retries off, and each request bounded as a whole
    (``RequestDeadline``). Thread-safe: one client can serve every investigation of a process."""
    return openai.OpenAI(
        base_url=base_url,
        api_key=api_key or NO_KEY,
        max_retries=0,
        timeout=timeout_s,
        http_client=openai.DefaultHttpxClient(timeout=timeout_s, event_hooks=RequestDeadline().hooks()),
    )


def _unsupported(refusal: openai.BadRequestError) -> bool:
    """A refusal of the parameter itself (OpenAI's ``unsupported_parameter``/``unsupported_value``),
    not of its value (``max_tokens is too large``: switching parameters would not help)."""
    code = str(refusal.code or "")
    return code.startswith("unsupported") or "not supported" in refusal.message.lower()


class _UnusableResponse(Exception):
    """A 200 whose body has no choice at all (an empty answer *is* usable: it is re-asked)."""


def retry_after_seconds(headers: Any) -> float | None:
    """``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date) → seconds; None if absent/invalid."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def default_verbs(policy_file: Path | None = None) -> list[str]:
    """The allowed remediation verbs of the policy (``None``: the packaged default), one line each."""
    from aoi.policies import load_policy

    return describe_policy_verbs(load_policy(policy_file))


class OpenAIPlanner:
    """``OpenAIPlanner(base_url, model, api_key).next_step(context) -> PlannerOutput`` (module docstring)."""

    name = "openai"

    def __init__(
        self,
        base_url: str | None,
        model: str | None,
        api_key: str | None = None,
        *,
        mode: Mode = "json",
        timeout_s: float = 60.0,
        max_attempts: int = 3,
        reasks: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 512,
        json_response_format: bool = False,
        verbs: Sequence[str] | None = None,
        policy_file: Path | None = None,
        template_path: Path | None = None,
        tool_format: ToolFormat = "json",
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        client: openai.OpenAI | None = None,
        quirks: EndpointQuirks | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_url and client is None:
            raise ValueError(
                "the openai planner needs the endpoint's base URL (AOI_LLM_BASE_URL), "
                "e.g. http://localhost:8000/v1 for vLLM or https://api.openai.com/v1"
            )
        if not model:
            raise ValueError(
                "the openai planner needs a model name (AOI_LLM_MODEL), e.g. Qwen/Qwen2.5-7B-Instruct"
            )
        if mode not in ("json", "tools"):
            raise ValueError(f"mode must be 'json' or 'tools', got {mode!r}")
        if max_attempts < 1 or reasks < 0 or timeout_s <= 0:
            raise ValueError("max_attempts must be ≥ 1, reasks ≥ 0 and timeout_s > 0")
        self.model = model
        self.model_version = model
        self.mode: Mode = mode
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.reasks = reasks
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.json_response_format = json_response_format
        self.template = load_template(template_path)
        self.verbs = list(verbs) if verbs is not None else default_verbs(policy_file)
        self.tool_format: ToolFormat = tool_format
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.client = client or make_client(str(base_url), api_key, timeout_s)
        if client is None:  # a client of its own: closed with the planner (its sockets too)
            weakref.finalize(self, self.client.close)
        self.quirks = quirks or EndpointQuirks()  # what the endpoint accepts (module docstring)
        self._sleep = sleep
        self._clock = clock

    def next_step(self, context: PlannerContext) -> PlannerOutput:
        """One step for ``context``.

        Raises ``InvalidStepError`` / ``UnknownToolError`` / ``ModelUnavailableError`` (all PlannerError).
        """
        deadline = self._clock() + max(0.0, context.budget_left.seconds)
        messages = render_messages(self.template, context, self.verbs, self.tool_format)
        tools = self._native_tools(context) if self.mode == "tools" else None

        def generate(conversation: list[Message]) -> Completion:
            return self._complete(conversation, tools, deadline)

        return ask_for_step(generate, messages, self.template, context.tools, self.reasks)

    # -- the endpoint --------------------------------------------------------------------------
    def _native_tools(self, context: PlannerContext) -> list[dict[str, Any]]:
        functions = [
            {"name": spec.name, "description": spec.description, "parameters": spec.parameters}
            for spec in context.tools
        ] + [{"name": name, **tool} for name, tool in self.template.native_tools.items()]
        return [{"type": "function", "function": function} for function in functions]

    def _request(self, messages: list[Message], tools: list[dict[str, Any]] | None, timeout: float) -> Any:
        extra: dict[str, Any] = {}
        if tools is not None:
            extra["tools"] = tools
            extra["tool_choice"] = "auto"
        elif self.json_response_format:
            extra["response_format"] = {"type": "json_object"}
        extra[self.quirks.token_param] = self.max_tokens
        if self.quirks.send_temperature:
            extra["temperature"] = self.temperature
        return self.client.chat.completions.create(
            model=self.model,
            messages=messages,  # type: ignore[arg-type]
            timeout=timeout,
            **extra,
        )

    def _send(self, messages: list[Message], tools: list[dict[str, Any]] | None, deadline: float) -> Any:
        """One request, sent again after each parameter the endpoint refuses that can be adapted."""
        while True:
            timeout = min(self.timeout_s, max(0.001, deadline - self._clock()))
            sent = (self.quirks.token_param, self.quirks.send_temperature)
            try:
                return self._request(messages, tools, timeout)
            except openai.BadRequestError as error:
                if not self._adapt_to(error, sent):
                    raise

    def _adapt_to(self, refusal: openai.BadRequestError, sent: tuple[str, bool]) -> bool:
        """Stop sending what a reasoning model refuses; False when the refusal is not one of those.

        Judged on what the refused request ``sent``: planners sharing the quirks may have learnt the
        same refusal meanwhile, and their request must be sent again, not failed."""
        param = refusal.param
        if not _unsupported(refusal):
            return False
        if param == "max_tokens" and sent[0] == "max_tokens":
            if self.quirks.token_param == "max_tokens":
                log.info("%s refuses max_tokens; sending max_completion_tokens instead", self.model)
            self.quirks.token_param = "max_completion_tokens"
            return True
        if param == "temperature" and sent[1]:
            if self.quirks.send_temperature:
                log.warning(
                    "%s refuses temperature %s; using the model's default (its steps may vary run to run)",
                    self.model,
                    self.temperature,
                )
            self.quirks.send_temperature = False
            return True
        return False

    def _complete(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, deadline: float
    ) -> Completion:
        """Call the endpoint, retrying retryable failures within ``deadline`` (see module docstring)."""
        failures: list[str] = []
        for attempt in range(1, self.max_attempts + 1):
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            wait: float | None = None
            try:
                response = self._send(messages, tools, deadline)
                return _to_completion(response)
            except openai.RateLimitError as error:
                wait = retry_after_seconds(error.response.headers)
                failures.append(
                    f"HTTP 429 rate limited (Retry-After {wait if wait is not None else 'absent'})"
                )
            except openai.APIStatusError as error:
                if error.status_code < 500 and error.status_code != 408:
                    raise ModelMisconfiguredError(
                        f"the endpoint refused the request with HTTP {error.status_code}: {error.message} "
                        f"(check AOI_LLM_BASE_URL, AOI_LLM_MODEL={self.model!r} and AOI_LLM_API_KEY)"
                    ) from error
                wait = retry_after_seconds(error.response.headers)
                failures.append(f"HTTP {error.status_code}: {error.message}")
            except openai.APITimeoutError:
                failures.append(f"timed out after {min(self.timeout_s, remaining):.1f}s")
            except openai.APIConnectionError as error:
                # the SDK's text is only "Connection error."; the cause says refused, DNS or TLS
                cause = f" ({type(error.__cause__).__name__}: {error.__cause__})" if error.__cause__ else ""
                failures.append(f"connection to {self.client.base_url} failed: {error}{cause}"[:400])
            except _OutOfTokens:
                # asking again spends the same tokens the same way: say what to change instead
                raise ModelMisconfiguredError(
                    f"the model used all {self.max_tokens} completion tokens without answering (a "
                    "reasoning model thinking at length?); raise AOI_LLM_MAX_TOKENS or use a model "
                    "that answers directly"
                ) from None
            except (json.JSONDecodeError, openai.APIResponseValidationError, _UnusableResponse) as error:
                failures.append(f"unusable response body: {type(error).__name__}: {error}")
            if attempt == self.max_attempts:
                break
            if wait is None:
                wait = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
            if self._clock() + wait >= deadline:
                failures.append(f"waiting {wait:.1f}s more would pass the investigation deadline")
                break
            self._sleep(wait)
        detail = "; ".join(failures) or "the investigation deadline had already passed"
        raise ModelUnavailableError(f"model endpoint unavailable after {len(failures)} attempt(s): {detail}")


class _OutOfTokens(Exception):
    """The whole completion budget went before any answer (a reasoning model thinking at length)."""


def _to_completion(response: Any) -> Completion:
    choices = getattr(response, "choices", None)
    if not choices:
        error = getattr(response, "error", None)  # some gateways answer 200 with an error object
        raise _UnusableResponse(f"no choices in the response{f': {error}' if error else ''}")
    message = getattr(choices[0], "message", None)
    if message is None:  # a content filter's choice carries no message
        reason = getattr(choices[0], "finish_reason", None)
        raise _UnusableResponse(f"the choice has no message (finish_reason {reason!r})")
    content = message.content or ""
    call: tuple[str, str] | None = None
    for tool_call in message.tool_calls or []:
        function = getattr(tool_call, "function", None)
        if function is not None:
            arguments = function.arguments
            if not isinstance(arguments, str):  # some servers send the arguments as an object
                arguments = json.dumps(arguments) if arguments is not None else "{}"
            call = (function.name, arguments or "{}")
            break
    if not content.strip() and call is None and getattr(choices[0], "finish_reason", None) == "length":
        raise _OutOfTokens()
    usage = getattr(response, "usage", None)
    return Completion(
        text=content,
        tool_call=call,
        prompt_tokens=getattr(usage, "prompt_tokens", None) if usage else None,
        completion_tokens=getattr(usage, "completion_tokens", None) if usage else None,
    )
