"""Secret redaction: every tool output passes through ``redact`` before a model, store or message sees it.

Why here and not at each sink: tool output is the one funnel through which cluster data reaches
AOI's prompts, database and Slack, so scrubbing it once at the source covers them all (DESIGN.md §3).

Contract: ``redact(text)`` replaces each secret *value* with ``[REDACTED:<kind>]`` and keeps the
surrounding key or scheme, so evidence stays readable (``password=[REDACTED:password]``,
``mongodb://admin:[REDACTED:url-password]@mongo:27017``). It is idempotent and never raises.
Rules are ordered: specific token formats first, then structural ones (PEM blocks, URLs, headers,
cookies), then generic ``key = value`` pairs in env and config dumps, and last a context-free pass
that replaces long near-random base62/base64 runs (``[REDACTED:high-entropy]``) — hex ids, UUIDs and
dashed Kubernetes names never qualify. ``tests/security/test_secrets.py`` proves 64 formats against
every sink and guards false positives on real simulator output.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MARK = "[REDACTED:{kind}]"


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    group: int = 0  # which group holds the secret value (0 = the whole match)
    key_group: int | None = None  # a group holding the key name, checked against _REFERENCE_KEY


def _rule(kind: str, regex: str, group: int = 0, flags: int = 0, key_group: int | None = None) -> _Rule:
    return _Rule(kind, re.compile(regex, flags), group, key_group)


# Distinctive token formats: safe to match anywhere.
_TOKEN_RULES: tuple[_Rule, ...] = (
    _rule(
        "private-key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY"
        r"(?: BLOCK)?-----|\Z)",
        flags=re.DOTALL,
    ),
    _rule("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    _rule("aws-access-key-id", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
    _rule(
        "aws-secret-access-key",
        r"(?i)(aws_?secret_?access_?key|aws_?secret|secretaccesskey)([\"']?\s*[=:]\s*[\"']?)"
        r"([A-Za-z0-9/+=]{40})",
        group=3,
    ),
    _rule("gcp-api-key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    _rule("gcp-oauth-token", r"\bya29\.[0-9A-Za-z_-]{20,}"),
    _rule("gcp-oauth-client-secret", r"\bGOCSPX-[0-9A-Za-z_-]{20,}"),
    _rule("slack-webhook", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+"),
    _rule("slack-token", r"\bxox[abposre]-[0-9A-Za-z-]{10,}"),
    _rule("slack-app-token", r"\bxapp-\d-[0-9A-Za-z-]{10,}"),
    _rule("github-token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[0-9A-Za-z]{30,}\b"),
    _rule("github-token", r"\bgithub_pat_[0-9A-Za-z_]{40,}\b"),
    _rule("gitlab-token", r"\bglpat-[0-9A-Za-z_-]{20,}"),
    _rule("anthropic-key", r"\bsk-ant-[0-9A-Za-z_-]{20,}"),
    _rule("openai-key", r"\bsk-(?:proj-|svcacct-)?[0-9A-Za-z_-]{20,}"),
    _rule("stripe-key", r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}"),
    _rule("sendgrid-key", r"\bSG\.[0-9A-Za-z_-]{16,}\.[0-9A-Za-z_-]{16,}"),
    _rule("twilio-key", r"\bSK[0-9a-f]{32}\b"),
    _rule("npm-token", r"\bnpm_[0-9A-Za-z]{36}\b"),
    _rule("huggingface-token", r"\bhf_[0-9A-Za-z]{30,}\b"),
    _rule("pypi-token", r"\bpypi-AgE[0-9A-Za-z_-]{50,}"),
    _rule("vault-token", r"\bhv[sbr]\.[0-9A-Za-z_-]{20,}"),
    _rule("shopify-token", r"\bshp(?:at|ca|pa|ss)_[0-9a-fA-F]{32}\b"),
    _rule("digitalocean-token", r"\bdo[opr]_v1_[0-9a-f]{64}\b"),
    _rule("mailgun-key", r"\bkey-[0-9a-z]{32}\b"),
    _rule("azure-account-key", r"(?i)(AccountKey=)([A-Za-z0-9+/=]{20,})", group=2),
    _rule("azure-sas-signature", r"(?i)([?&]sig=)([A-Za-z0-9%+/=]{16,})", group=2),
    _rule("datadog-key", r"(?i)(dd_(?:api|app)_key[\"']?\s*[=:]\s*[\"']?)([0-9a-f]{32,40})", group=2),
)

# Structural rules: credentials identified by where they sit.
_STRUCTURAL_RULES: tuple[_Rule, ...] = (
    # scheme://user:password@host  (mongodb, postgres, redis, amqp, mysql, http…)
    _rule("url-password", r"([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"'<>]*:)([^\s@/\"'<>]+)(@)", group=2),
    _rule("bearer-token", r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{8,})", group=2),
    _rule("basic-auth", r"(?i)(\bbasic\s+)([A-Za-z0-9+/]{8,}={0,2})", group=2),
    # Cookie / Set-Cookie headers: the first cookie's value is a session credential.
    _rule("cookie", r"(?i)(\b(?:set-)?cookie:\s*[^=\s;]+=)([^;\s]{8,})", group=2),
    # docker config.json: "auth": "base64(user:pass)"
    _rule("docker-auth", r"(\"auth\"\s*:\s*\")([A-Za-z0-9+/=]{8,})(\")", group=2),
    # CLI flags: --password=x, --password x, --token x, -p'x' is too ambiguous to match.
    _rule(
        "cli-secret-flag",
        r"(?i)(--(?:password|passwd|token|secret|api-key|access-key|client-secret)(?:=|\s+))"
        r"(?![\[<])([^\s\"']+)",
        group=2,
    ),
    # Connection strings: Password=...; Pwd=...;
    _rule("connection-string-password", r"(?i)(\b(?:password|pwd)\s*=\s*)([^;\s\"']+)(?=;)", group=2),
    # XML: <password>x</password>, <db.secret>x</db.secret>, <property name="…password">x</property>
    _rule(
        "xml-secret",
        r"(?i)(<([\w.-]*(?:password|passwd|secret|token|credential)[\w.-]*)>)([^<]{1,500})(</\2>)",
        group=3,
    ),
    _rule(
        "xml-secret",
        r"(?i)(<property\s+name=\"[^\"]*(?:password|passwd|secret|token|credential)[^\"]*\"\s*>)"
        r"([^<]{1,500})(</property>)",
        group=2,
    ),
    # .pgpass lines: host:port:database:user:password
    _rule(
        "pgpass",
        r"(?m)^((?:\*|[A-Za-z0-9.-]*[A-Za-z][A-Za-z0-9.-]*):(?:\*|\d{2,5}):[^:\s]+:[^:\s]+:)(\S+)$",
        group=2,
    ),
)

_SECRET_KEY = (
    r"(?:[A-Za-z0-9_.-]*?(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|client[_-]?secret|credentials?|auth[_-]?key|signing[_-]?key|encryption[_-]?key|"
    r"session[_-]?key|requirepass|masterauth|(?<![A-Za-z])pass(?![A-Za-z])|(?<![A-Za-z])auth(?![A-Za-z]))"
    r"[A-Za-z0-9_.-]*)"
)
# Values that look like references, not secrets (``kubectl describe`` shows env from secrets this way).
# Keys that name or point at a secret rather than hold one (``secretName``, ``passwordSecretRef``…).
_REFERENCE_KEY = re.compile(
    r"(?:name|ref|file|path|type|kind|length|count|expir\w*|ttl)[\"']?\s*[=:]\s*$", re.I
)
_NOT_A_VALUE = re.compile(
    r"^(?:<|\[REDACTED|\$\{|\$\(|\*{3,}|(?:null|none|true|false|redacted|\"\"|'')$)", re.I
)

_GENERIC_RULES: tuple[_Rule, ...] = (
    # key: "value" / key = 'value' / "key": "value"   (JSON, YAML, env dumps, logs)
    _rule(
        "secret-value",
        r"(?i)([\"']?\b" + _SECRET_KEY + r"[\"']?\s*[=:]\s*)([\"'])([^\"'\n]{1,500})(\2)",
        group=3,
        key_group=1,
    ),
    # key=value / key: value   (unquoted, up to whitespace, comma, semicolon or brace)
    _rule(
        "secret-value",
        r"(?i)(\b" + _SECRET_KEY + r"\s*[=:]\s*)([^\s,;\"'{}\[\]()]{1,500})",
        group=2,
        key_group=1,
    ),
    # a Kubernetes env entry as JSON (kubectl's last-applied-configuration, manifests in ConfigMaps):
    # {"name": "DB_PASSWORD", "value": "..."}
    _rule(
        "secret-value",
        r"(?i)(\"name\"\s*:\s*\"" + _SECRET_KEY + r"\"\s*,\s*\"value\"\s*:\s*\")([^\"\n]{1,500})(\")",
        group=2,
    ),
    # "requirepass foo" / "masterauth foo" / "IDENTIFIED BY 'foo'"
    _rule("secret-value", r"(?i)(\b(?:requirepass|masterauth)\s+)(\S+)", group=2),
    _rule("secret-value", r"(?i)(\bidentified\s+by\s+)('[^']*'|\"[^\"]*\"|\S+)", group=2),
)

RULES: tuple[_Rule, ...] = _TOKEN_RULES + _STRUCTURAL_RULES + _GENERIC_RULES


def _replacer(rule: _Rule) -> Callable[[re.Match[str]], str]:
    mark = MARK.format(kind=rule.kind)

    def replace(match: re.Match[str]) -> str:
        if rule.group == 0:
            return mark
        value = match.group(rule.group)
        if _NOT_A_VALUE.match(value) or value.startswith("[REDACTED"):
            return match.group(0)
        if rule.key_group is not None and _REFERENCE_KEY.search(match.group(rule.key_group)):
            return match.group(0)
        start, end = match.span(rule.group)
        whole_start = match.start(0)
        text = match.group(0)
        return text[: start - whole_start] + mark + text[end - whole_start :]

    return replace


_COMPILED: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = tuple(
    (rule.pattern, _replacer(rule)) for rule in RULES
)


# Every rule above needs one of these fragments somewhere in the text: a cheap first pass that lets
# the (many) strings without any of them skip the full rule set.
_MAYBE_SECRET = re.compile(
    r"begin|eyj|akia|asia|agpa|aida|aroa|anpa|anva|aipa|aiza|ya29|gocspx|hooks\.slack|xox|xapp|gh[pousr]_"
    r"|github_pat|glpat|hf_|cookie|sk-|[srp]k_|sg\.|sk[0-9a-f]|npm_|pypi-|hv[sbr]\.|shp|do[opr]_v1|key|sig=|dd_|://"
    r"|bearer|basic|auth|--|pass|pwd|secret|token|credential|identified|requirepass|:(?:\d{2,5}|\*):",
    re.IGNORECASE,
)


# Last resort for secrets with no telling prefix or key: a long run of base64/base62 characters that
# mixes upper case, lower case and digits with near-random entropy. Hex (git SHAs, trace ids, digests),
# UUIDs and dashed Kubernetes names never qualify: they lack upper case or break at every dash.
_HIGH_ENTROPY_CANDIDATE = re.compile(r"(?<![A-Za-z0-9+/_=.-])[A-Za-z0-9+/_]{32,}={0,2}(?![A-Za-z0-9+/_=-])")
HIGH_ENTROPY_BITS = 4.5  # bits per character; random base62 of 32+ chars has ~4.8-5.2, prose and code < 4.2


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _looks_random(value: str) -> bool:
    body = value.rstrip("=")
    classes = (sum(c.isupper() for c in body), sum(c.islower() for c in body), sum(c.isdigit() for c in body))
    return min(classes) >= 3 and _entropy(body) >= HIGH_ENTROPY_BITS


def _high_entropy(match: re.Match[str]) -> str:
    value = match.group(0)
    return MARK.format(kind="high-entropy") if _looks_random(value) else value


def redact(text: str) -> str:
    """Return ``text`` with every recognised secret value replaced by ``[REDACTED:<kind>]``."""
    if not text:
        return text
    if _MAYBE_SECRET.search(text):
        for pattern, replace in _COMPILED:
            text = pattern.sub(replace, text)
    return _HIGH_ENTROPY_CANDIDATE.sub(_high_entropy, text)


def redact_data(value: Any) -> Any:
    """Redact every string inside a JSON-like structure (dicts, lists, scalars), returning a copy.

    Dict values under a secret-looking key (``password``, ``token``…) are replaced entirely, and the
    ``data``/``stringData`` of a Kubernetes Secret never survive.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_data(item) for item in value]
    if isinstance(value, dict):
        is_secret_object = value.get("kind") == "Secret"
        # {"name": "DB_PASSWORD", "value": "..."}: a container env entry holding a secret.
        env_name = value.get("name")
        secret_env = (
            isinstance(env_name, str)
            and isinstance(value.get("value"), str)
            and _SECRET_KEY_RE.fullmatch(env_name) is not None
        )
        out: dict[str, Any] = {}
        for key, item in value.items():
            if is_secret_object and key in ("data", "stringData") and isinstance(item, dict):
                out[key] = {name: MARK.format(kind="k8s-secret") for name in item}
            elif secret_env and key == "value" and not _NOT_A_VALUE.match(item):
                out[key] = MARK.format(kind="secret-value")
            elif (
                isinstance(key, str)
                and isinstance(item, str)
                and _SECRET_KEY_RE.fullmatch(key)
                and not _REFERENCE_KEY.search(key + ":")
            ):
                out[key] = item if _NOT_A_VALUE.match(item) else MARK.format(kind="secret-value")
            else:
                out[key] = redact_data(item)
        return out
    return value


_SECRET_KEY_RE = re.compile(_SECRET_KEY, re.I)
