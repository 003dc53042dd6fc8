"""``kubectl exec`` in a simulated pod: the pod's own shell expands its env (values from its Secrets),
so a database repair can authenticate as root without the caller holding the password; the mongo
shell understands ``db.getSiblingDB`` and ``process.env``; unsupported shell syntax is refused."""

from __future__ import annotations

import pytest

from aoi.sim import SimCluster, SimError, grade, load_suite

HOTEL = "test-hotel-reservation"
AS_ROOT = (
    'mongo admin -u "$MONGO_INITDB_ROOT_USERNAME" -p "$MONGO_INITDB_ROOT_PASSWORD" '
    '--authenticationDatabase admin --quiet --eval "$1"'
)


def _db_pod(cluster: SimCluster, service: str = "mongodb-geo") -> str:
    pods = cluster.list_objects("Pod", HOTEL, label_selector=f"io.kompose.service={service}")
    return str(pods[0]["metadata"]["name"])


def _problem_cluster(problem_id: str) -> tuple[SimCluster, str]:
    cluster = SimCluster.from_problem(load_suite("aiopslab")[problem_id])
    return cluster, _db_pod(cluster)


def test_sh_c_expands_the_containers_env_from_its_secret_and_positional_args(hotel: SimCluster) -> None:
    pod = _db_pod(hotel)
    program = 'echo "$MONGO_INITDB_ROOT_USERNAME" ${MONGO_DATABASE} "[$UNSET]" $1; echo $0'
    result = hotel.exec_command(HOTEL, pod, ["sh", "-c", program, "repair", "a  b"])
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout == "admin geo-db [] a b\nrepair\n"  # unquoted $1 is split on blanks


def test_without_a_shell_dollar_words_reach_mongo_literally(hotel: SimCluster) -> None:
    argv = ["mongo", "admin", "-u", "$MONGO_INITDB_ROOT_USERNAME", "-p", "$MONGO_INITDB_ROOT_PASSWORD"]
    result = hotel.exec_command(HOTEL, _db_pod(hotel), [*argv, "--eval", "db.getUsers()"])
    assert result.code == 1 and "Authentication failed" in result.stderr


def test_root_credentials_from_the_pods_env_grant_a_revoked_role_back() -> None:
    problem = load_suite("aiopslab")["revoke_auth_mongodb-mitigation-1"]
    cluster = SimCluster.from_problem(problem)
    script = 'db.getSiblingDB("geo-db").grantRolesToUser("admin", ["readWrite"])'
    result = cluster.exec_command(HOTEL, _db_pod(cluster), ["sh", "-c", AS_ROOT, "repair", script])
    assert (result.code, result.stderr) == (0, "")
    cluster.advance(600)  # the crash-looping client's next restart connects with its role back
    verdict = grade(problem, cluster, {})
    assert verdict.success, verdict.details


def test_get_sibling_db_scopes_one_statement_and_db_assignment_switches() -> None:
    cluster, pod = _problem_cluster("revoke_auth_mongodb-mitigation-1")
    script = (
        'db.getSiblingDB("geo-db").grantRolesToUser("admin", ["readWrite"]); '
        'db = db.getSiblingDB("rate-db"); db.grantRolesToUser("admin", ["read"])'
    )
    cluster.exec_db(HOTEL, pod, f"sh -c '{AS_ROOT}' repair '{script}'")
    out = cluster.exec_db(HOTEL, pod, f"sh -c '{AS_ROOT}' repair 'db.getUser(\"admin\")'")
    assert (
        '"role": "readWrite",\n      "db": "geo-db"' in out
        and '"role": "read",\n      "db": "rate-db"' in out
    )
    assert '"role": "readWrite",\n      "db": "rate-db"' not in out


def test_create_user_reads_its_password_from_process_env_via_the_localhost_exception() -> None:
    problem = load_suite("aiopslab")["user_unregistered_mongodb-mitigation-1"]
    cluster = SimCluster.from_problem(problem)
    pod = _db_pod(cluster)
    script = (
        'db.getSiblingDB("geo-db").createUser({user: "admin", '
        'pwd: process.env["MONGO_INITDB_ROOT_PASSWORD"], roles: ["readWrite"]})'
    )
    # the dropped user was the root user: logging in as root fails, the localhost exception remains
    program = f'{AS_ROOT} || mongo admin --quiet --eval "$1"'
    result = cluster.exec_command(HOTEL, pod, ["sh", "-c", program, "repair", script])
    assert result.code == 0
    assert "Authentication failed" in result.stderr and "Successfully added user" in result.stdout
    client = ["mongo", "geo-db", "-u", "admin", "-p", "admin", "--eval", "db.version()"]  # the Secret's
    assert cluster.exec_command(HOTEL, pod, client).code == 0
    cluster.advance(600)
    verdict = grade(problem, cluster, {})
    assert verdict.success, verdict.details


def test_an_unset_process_env_variable_leaves_create_user_without_a_password() -> None:
    cluster, pod = _problem_cluster("user_unregistered_mongodb-mitigation-1")
    script = 'db.createUser({user: "admin", pwd: process.env.NO_SUCH_VAR, roles: ["readWrite"]})'
    with pytest.raises(SimError, match=r"exit code 1: .*createUser needs user and pwd"):
        cluster.exec_db(HOTEL, pod, script)


@pytest.mark.parametrize(
    ("program", "code", "message"),
    [
        ("mongo --eval 'db.getUsers()' | grep admin", 2, "pipes ('|') are not available"),
        ("echo $(cat /etc/passwd)", 2, "command substitution $(...) is not available"),
        ("mongo > /tmp/out", 2, "redirections ('>') are not available"),
        ("echo 'unterminated", 2, "Unterminated quoted string"),
        ("cat /etc/shadow", 127, "cat: not found"),
        ("&& echo hi", 2, 'Syntax error: "&&" unexpected'),
    ],
)
def test_the_pods_shell_refuses_what_it_cannot_run(
    hotel: SimCluster, program: str, code: int, message: str
) -> None:
    result = hotel.exec_command(HOTEL, _db_pod(hotel), ["sh", "-c", program])
    assert result.code == code and message in result.stderr and result.stdout == ""


def test_and_or_and_semicolons_run_like_sh(hotel: SimCluster) -> None:
    program = "nope && echo skipped; nope || echo fallback; echo done # a comment"
    result = hotel.exec_command(HOTEL, _db_pod(hotel), ["bash", "-c", program])
    assert result.stdout == "fallback\ndone\n" and result.code == 0
    assert result.stderr.count("nope: not found") == 2


def test_a_pod_without_a_database_shell_exits_127_and_says_what_it_can_run(hotel: SimCluster) -> None:
    frontend = hotel.list_objects("Pod", HOTEL, label_selector="io.kompose.service=frontend")[0]
    result = hotel.exec_command(HOTEL, frontend["metadata"]["name"], ["mongo", "--eval", "1"])
    assert result.code == 127 and 'exec: "mongo": executable file not found' in result.stderr
    assert "can only run echo (it has no database shell)" in result.stderr
    with pytest.raises(SimError, match="container ghost is not valid"):
        hotel.exec_command(HOTEL, frontend["metadata"]["name"], ["echo"], container="ghost")


def test_exec_db_refuses_a_command_line_it_cannot_split(hotel: SimCluster) -> None:
    with pytest.raises(SimError, match="cannot parse the command line"):
        hotel.exec_db(HOTEL, _db_pod(hotel), "sh -c 'mongo --eval")
    with pytest.raises(SimError, match="exit code 1: mongo: no statements to run"):
        hotel.exec_db(HOTEL, _db_pod(hotel), "mongo admin --quiet")
