"""Every secret format in the corpus is scrubbed from tool output, and ordinary evidence survives."""

from __future__ import annotations

import pytest

from aoi.agents.redaction import redact, redact_data

# (format name, text containing a secret, the secret value that must disappear)
CORPUS: list[tuple[str, str, str]] = [
    ("aws access key id", "using key AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE"),
    ("aws sts key id", "creds ASIAY34FZKBOKMUTVV7A expire", "ASIAY34FZKBOKMUTVV7A"),
    (
        "aws secret env",
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    (
        "aws secret ini",
        "aws_secret_access_key = je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    ),
    (
        "gcp api key",
        "maps key AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY ok",
        "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    ),
    (
        "gcp oauth token",
        "token ya29.a0AfH6SMBx3jkWQq1Z9kLmNopQrStUvWxYz",
        "ya29.a0AfH6SMBx3jkWQq1Z9kLmNopQrStUvWxYz",
    ),
    ("gcp client secret", "client GOCSPX-1a2B3c4D5e6F7g8H9i0JkLmNoP", "GOCSPX-1a2B3c4D5e6F7g8H9i0JkLmNoP"),
    (
        "gcp service account json",
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
        'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----\\n"}',
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    ),
    (
        "rsa private key",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x2y3z\nabcDEF==\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA1x2y3z",
    ),
    (
        "openssh private key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAA",
    ),
    (
        "ec private key",
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yBx\n-----END EC PRIVATE KEY-----",
        "MHcCAQEEIBkg4LVWM9nuwNSk3yBx",
    ),
    (
        "jwt",
        "auth eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    (
        "slack bot token",
        "SLACK_BOT_TOKEN xoxb-2345678901-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "xoxb-2345678901",
    ),
    ("slack user token", "xoxp-1234567890-0987654321-1111111111-abcdef1234567890abcdef", "xoxp-1234567890"),
    ("slack app token", "app token xapp-1-A0123BCDE-1234567890123-abcdef0123456789", "xapp-1-A0123BCDE"),
    (
        "slack webhook",
        "posting to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "XXXXXXXXXXXXXXXXXXXXXXXX",
    ),
    (
        "github pat",
        "git clone https://x:ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/o/r",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    ),
    (
        "github fine-grained pat",
        "GH github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP",
        "github_pat_11ABCDEFG0123456789",
    ),
    ("gitlab token", "CI_TOKEN glpat-xxxxXXXXxxxxXXXXxx12", "glpat-xxxxXXXXxxxxXXXXxx12"),
    (
        "openai key",
        "OPENAI sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
        "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
    ),
    (
        "anthropic key",
        "key sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
    ),
    ("stripe live key", "charge with sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    (
        "sendgrid key",
        "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",
        "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
    ),
    (
        "npm token",
        "//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789",
        "npm_abcdefghij",
    ),
    ("vault token", "VAULT hvs.CAESIJ1a2b3c4d5e6f7g8h9i0jklmnop", "hvs.CAESIJ1a2b3c4d5e6f7g8h9i0jklmnop"),
    (
        "mongodb url password",
        "connecting to mongodb://admin:S3cr3tPass@mongodb-geo:27017/geo-db",
        "S3cr3tPass",
    ),
    ("mongodb+srv url password", "mongodb+srv://app:p%40ss-w0rd@cluster0.example.net/db", "p%40ss-w0rd"),
    ("postgres url password", "DATABASE_URL=postgresql://aoi:hunter2@db:5432/aoi", "hunter2"),
    ("redis url password", "redis://:r3d1sPw@valkey-cart:6379/0", "r3d1sPw"),
    ("amqp url password", "amqp://guest:guestpw42@rabbitmq:5672/", "guestpw42"),
    ("bearer header", "Authorization: Bearer 4f6d2a9e8b7c1d3e5f", "4f6d2a9e8b7c1d3e5f"),
    ("basic auth header", "Authorization: Basic YWRtaW46cGFzc3dvcmQxMjM=", "YWRtaW46cGFzc3dvcmQxMjM="),
    ("docker config auth", '{"auths": {"registry.io": {"auth": "dXNlcjpzM2NyM3Q="}}}', "dXNlcjpzM2NyM3Q="),
    ("env password", "MONGO_PASSWORD=Tr0ub4dor&3", "Tr0ub4dor&3"),
    ("yaml secret", "  client_secret: 8f1d2c3b4a5e6f7a", "8f1d2c3b4a5e6f7a"),
    ("json password", '{"user": "admin", "password": "correct horse battery"}', "correct horse battery"),
    ("env dump token", "GRAFANA_API_TOKEN: glc_eyJvIjoiMTIzNCJ9abc", "glc_eyJvIjoiMTIzNCJ9abc"),
    (
        "cli password flag",
        "mongo --username admin --password=Zx9!qW2 --authenticationDatabase admin",
        "Zx9!qW2",
    ),
    ("cli token flag", "vault login --token s.abcdefgh12345678", "s.abcdefgh12345678"),
    (
        "connection string",
        "Server=tcp:db.example.com;Database=shop;User Id=sa;Password=Pa55w0rd!;",
        "Pa55w0rd!",
    ),
    (
        "azure storage key",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsu==;",
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsu==",
    ),
    (
        "azure sas",
        "https://acct.blob.core.windows.net/c?sv=2020&sig=abcDEF123ghiJKL456mno%3D",
        "abcDEF123ghiJKL456mno%3D",
    ),
    ("redis requirepass", "requirepass v4lk3y-s3cret", "v4lk3y-s3cret"),
    ("sql identified by", "CREATE USER app IDENTIFIED BY 'sq1-pa55';", "sq1-pa55"),
    ("datadog api key", "DD_API_KEY=0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
    ("passphrase", "ssh_passphrase: my long passphrase", "my"),
    ("mailgun key", "MAILGUN key-3ax6xnjp29jd6fds4gc373sgvjxteol0", "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"),
    # found by a review: kubectl apply's last-applied-configuration carries env entries as JSON
    (
        "env entry as json",
        'last-applied-configuration={"env":[{"name": "DB_PASSWORD", "value": "hunter2x"}]}',
        "hunter2x",
    ),
    ("short pass key", "DB_PASS: Sup3rS3cret!", "Sup3rS3cret!"),
    ("auth key", "REDIS_AUTH: redisauthval", "redisauthval"),
    ("json pass", '{"pass": "jsonpass789"}', "jsonpass789"),
    ("redis masterauth", "masterauth masterauthpw", "masterauthpw"),
    ("xml element", "<password>xmlpass456</password>", "xmlpass456"),
    (
        "xml property",
        '<property name="hibernate.connection.password">xmlpass123</property>',
        "xmlpass123",
    ),
    ("pgpass line", "db.internal:5432:orders:app:pgpasspw", "pgpasspw"),
]


@pytest.mark.parametrize(("fmt", "text", "secret"), CORPUS, ids=[c[0] for c in CORPUS])
def test_secret_is_redacted(fmt: str, text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out, f"{fmt}: secret survived in {out!r}"
    assert "[REDACTED:" in out


def test_corpus_covers_at_least_thirty_formats() -> None:
    assert len({fmt for fmt, _, _ in CORPUS}) >= 30


@pytest.mark.parametrize(
    "text",
    [
        'not authorized on geo-db to execute command { find: "geo" }',
        "Authentication failed for user admin: password mismatch",
        "dial tcp 10.0.0.12:9090: connect: connection refused",
        "secretName: mongo-credentials",
        "DB_PASSWORD:  <set to the key 'password' in secret 'mongo-creds'>",
        "Warning  FailedScheduling  0/3 nodes are available: 3 node(s) didn't match Pod's node affinity",
        "GET /api/cart 500 12ms token_count=3",
        # identifiers that look random but are not secrets: they must stay readable evidence
        "order 3f2b9c1e-8d4a-4b7e-9a6f-2c5d8e1f0a3b failed validation",  # UUID
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 deployed by ci",  # git SHA
        "rollout of 9fceb02 (short SHA) complete",
        "traceId=4bf92f3577b34da6a3ce929d0e0e4736 spanId=00f067aa0ba902b7 status=ERROR",  # W3C trace ids
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        'metadata: {"resourceVersion": "58211394", "uid": "6c1e3a4f-7a2b-4a5e-9d7c-1b2c3d4e5f60"}',
        "image: ghcr.io/demo@sha256:1e5cd1d7a6e0b0f3c2e8f9a1b4d6c8e0f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2",
        "pod geo-8jqghsq8cw-6qxcx replicaSet geo-8jqghsq8cw node aks-nodepool1-12345678-vmss000001",
        "2024-05-01T10:00:00.123456789Z INFO handled GET /hotels?inDate=2015-04-09&outDate=2015-04-10 in 3ms",
        "java.lang.IllegalStateException at oteldemo.AdService$AdServiceImpl.getAds(AdService.java:259)",
        "/var/lib/kubelet/pods/6c1e3a4f-7a2b-4a5e-9d7c-1b2c3d4e5f60/volumes/kubernetes.io~configmap/config",
        "ConfigurationLoaderFactoryImplementation failed to start HttpServerConnectionManager",
        "Liveness probe failed: HTTP probe failed with statuscode: 503",
        'requests_total{service="checkout",status="500"} 1.2e+03',
        # words that hold "pass" or "auth" without being a credential's key
        "bypass_cache: true",
        "passthrough: enabled",
        "author: alice",
        "oauth_url: https://login.example.com/authorize",
        "compass: north",
        "10:02:33:ERROR:upstream reset",
    ],
)
def test_ordinary_evidence_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_redaction_is_idempotent_and_keeps_the_key() -> None:
    once = redact("password=hunter2 mongodb://u:p4ss@h:1/x")
    assert redact(once) == once
    assert once.startswith("password=[REDACTED:")
    assert "mongodb://u:[REDACTED:url-password]@h:1/x" in once


def test_structured_data_redacts_env_values_and_secret_objects() -> None:
    pod = {
        "kind": "Pod",
        "spec": {
            "containers": [
                {"env": [{"name": "DB_PASSWORD", "value": "s3cret"}, {"name": "HOST", "value": "db"}]}
            ]
        },
        "volumes": [{"secret": {"secretName": "creds"}}],
    }
    out = redact_data(pod)
    env = out["spec"]["containers"][0]["env"]
    assert env[0]["value"].startswith("[REDACTED") and env[1]["value"] == "db"
    assert out["volumes"][0]["secret"]["secretName"] == "creds"
    secret = redact_data({"kind": "Secret", "data": {"password": "aHVudGVyMg=="}})
    assert secret["data"]["password"] == "[REDACTED:k8s-secret]"
