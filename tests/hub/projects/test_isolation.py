"""Project isolation on the real servers, configured exactly as `datalab up` configures them (hub/stack/
seaweed.py and openbao.py, with hub/projects/policies.py): members reach the project's bucket and Vault folder;
a non-member reaches nothing of it through their session's credentials, through STS called directly with
their own id_token (any role, any session name), or through any Vault login; leaving the group ends access at
the next renewal."""

from __future__ import annotations

import json

import botocore.exceptions
import hvac
import pytest

from hub.credentials.broker import CredentialBroker
from hub.projects import access
from hub.projects.model import ProjectRules, resolve
from hub.stack import openbao, seaweed
from tests.support.idp import node_available, run_idp
from tests.support.openbao import run_openbao
from tests.support.seaweedfs import run_seaweedfs

GROUP = "project-demo"
USERS = {
    "alice": {"password": "alice-pw", "groups": ["datalab-users", GROUP, "hack-orga"]},
    "bob": {"password": "bob-pw", "groups": ["datalab-users", GROUP]},
    "carol": {"password": "carol-pw", "groups": ["datalab-users", "hack"]},
}
# an event dataset (hub/stack/projects.catalog_datasets' shape): participants read, organisers write
DATASET = {
    "bucket": "events",
    "prefix": "hack/census",
    "readers": ["hack", "hack-orga"],
    "writers": ["hack-orga"],
}
RULES = ProjectRules(group_prefix=seaweed.PROJECT_PREFIX)
DEMO = resolve(RULES, [GROUP])[0][0]
PROJECT_ROLE = seaweed.PROJECT_ROLE_TEMPLATE.format(project="demo")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not node_available():
        pytest.skip("node or hub/idp/node_modules missing (run scripts/bootstrap.sh)")
    work = tmp_path_factory.mktemp("projects")
    with run_idp(work / "idp", users=USERS) as idp:
        aud = idp.test_client_id
        iam = seaweed.iam_config(
            issuer=idp.issuer, client_id=aud, signing_key="ab" * 32, projects=[DEMO], datasets=[DATASET]
        )
        with run_seaweedfs(work / "weed", iam=iam) as sw, run_openbao(work / "bao") as bao:
            openbao.configure(bao.addr, bao.root_token, issuer=idp.issuer, audience=aud, projects=[DEMO])
            for user in USERS:
                sw.make_bucket(seaweed.bucket_of(user))
            sw.make_bucket("events")
            sw.client().put_object(Bucket="events", Key="hack/census/2026.csv", Body=b"region,n\n")
            sw.client().put_object(Bucket="events", Key="other/secret.csv", Body=b"not for the event")
            yield idp, sw, bao


def id_token(idp, user: str) -> str:
    return idp.tokens(user, USERS[user]["password"])["id_token"]


def broker(sw, bao) -> CredentialBroker:
    return CredentialBroker(
        s3_mode="required",
        s3_endpoint=sw.endpoint,
        s3_role_arn=seaweed.ROLE_ARN,
        vault_mode="required",
        vault_addr=bao.addr,
        timeout=10,
    )


def s3_of(sw, creds):
    return sw.client(
        creds.access_key_id,
        creds.secret_access_key.get_secret_value(),
        creds.session_token.get_secret_value(),
    )


def refused(call) -> str | None:
    """The error code of a refused S3 or Vault call; None when it succeeded."""
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    except hvac.exceptions.VaultError as e:
        return type(e).__name__
    return None


def kv(token: str, bao) -> hvac.api.secrets_engines.KvV2:
    return hvac.Client(url=bao.addr, token=token, timeout=10).secrets.kv.v2


def attempts_on_project(s3) -> dict[str, str | None]:
    return {
        "list": refused(lambda: s3.list_objects_v2(Bucket=DEMO.bucket)),
        "read": refused(lambda: s3.get_object(Bucket=DEMO.bucket, Key="shared.csv")),
        "write": refused(lambda: s3.put_object(Bucket=DEMO.bucket, Key="carol.txt", Body=b"x")),
        "delete": refused(lambda: s3.delete_object(Bucket=DEMO.bucket, Key="shared.csv")),
    }


async def test_members_share_the_project_bucket_and_vault_folder(servers):
    idp, sw, bao = servers
    b = broker(sw, bao)
    alice = await b.credentials("alice", id_token(idp, "alice"))
    reached, problems = await access.reachable([DEMO], alice.s3, 10)
    assert (reached, problems) == ([DEMO], [])  # the bucket was made on first use, by alice's own role
    s3_of(sw, alice.s3).put_object(Bucket=DEMO.bucket, Key="shared.csv", Body=b"a,b\n1,2\n")
    kv(alice.vault.token.get_secret_value(), bao).create_or_update_secret(
        path=f"{DEMO.vault_dir}/db", secret={"password": "project-pw"}
    )
    bob = await b.credentials("bob", id_token(idp, "bob"))
    body = s3_of(sw, bob.s3).get_object(Bucket=DEMO.bucket, Key="shared.csv")["Body"].read()
    assert body == b"a,b\n1,2\n"
    secret = kv(bob.vault.token.get_secret_value(), bao).read_secret_version(
        path=f"{DEMO.vault_dir}/db", raise_on_deleted_version=True
    )
    assert secret["data"]["data"] == {"password": "project-pw"}
    assert json.loads(access.session_env(reached)[access.ENV])[0]["folder"] == "project-demo"


async def test_a_non_members_session_credentials_reach_nothing_of_the_project(servers):
    idp, sw, bao = servers
    sw.client().put_object(Bucket=DEMO.bucket, Key="shared.csv", Body=b"data")  # whatever the test order
    carol = await broker(sw, bao).credentials("carol", id_token(idp, "carol"))
    assert set(attempts_on_project(s3_of(sw, carol.s3)).values()) == {"AccessDenied"}
    assert (await access.reachable([DEMO], carol.s3, 10))[0] == []  # not shown to her either
    vault = kv(carol.vault.token.get_secret_value(), bao)
    assert refused(
        lambda: vault.read_secret_version(path=f"{DEMO.vault_dir}/db", raise_on_deleted_version=True)
    )
    assert refused(lambda: vault.create_or_update_secret(path=f"{DEMO.vault_dir}/x", secret={"a": "b"}))
    assert refused(lambda: vault.list_secrets(path=DEMO.vault_dir))


@pytest.mark.parametrize("session_name", ["datalab-carol", "alice", "datalab-alice", "project-demo"])
@pytest.mark.parametrize(
    "role_arn",
    [
        seaweed.ROLE_ARN,
        PROJECT_ROLE,
        "arn:aws:iam::role/datalab-project-other",
        "arn:aws:iam::role/datalab-admin",
    ],
)
def test_a_non_member_calling_sts_directly_with_her_id_token_gets_nothing_of_the_project(
    servers, role_arn, session_name
):
    idp, sw, _ = servers
    sw.client().put_object(Bucket=DEMO.bucket, Key="shared.csv", Body=b"data")
    token = id_token(idp, "carol")
    try:
        c = sw.sts().assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName=session_name, WebIdentityToken=token
        )["Credentials"]
    except botocore.exceptions.ClientError as e:
        assert role_arn != seaweed.ROLE_ARN, e  # her own role is hers; every other is refused
        return
    assert role_arn == seaweed.ROLE_ARN
    s3 = sw.client(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    assert set(attempts_on_project(s3).values()) == {"AccessDenied"}


def test_a_member_may_assume_the_project_role_which_reaches_the_project_only(servers):
    idp, sw, _ = servers
    c = sw.sts().assume_role_with_web_identity(
        RoleArn=PROJECT_ROLE, RoleSessionName="datalab-bob", WebIdentityToken=id_token(idp, "bob")
    )["Credentials"]
    s3 = sw.client(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    s3.put_object(Bucket=DEMO.bucket, Key="from-project-session.txt", Body=b"x")
    assert refused(lambda: s3.list_objects_v2(Bucket="user-bob")) == "AccessDenied"


def test_vault_logins_of_a_non_member_are_refused_or_reach_nothing(servers):
    idp, _, bao = servers
    token = id_token(idp, "carol")
    client = hvac.Client(url=bao.addr, timeout=10)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="bound claim"):
        client.auth.jwt.jwt_login(role="project-demo", jwt=token, path=openbao.PROJECTS_JWT_MOUNT)
    personal = client.auth.jwt.jwt_login(role=openbao.ROLE, jwt=token, path=openbao.JWT_MOUNT)
    vault = kv(personal["auth"]["client_token"], bao)
    assert refused(lambda: vault.create_or_update_secret(path=f"{DEMO.vault_dir}/x", secret={"a": "b"}))


def test_a_members_project_session_vault_token_has_no_personal_folder(servers):
    idp, _, bao = servers
    client = hvac.Client(url=bao.addr, timeout=10)
    login = client.auth.jwt.jwt_login(
        role="project-demo", jwt=id_token(idp, "bob"), path=openbao.PROJECTS_JWT_MOUNT
    )
    vault = kv(login["auth"]["client_token"], bao)
    vault.create_or_update_secret(path=f"{DEMO.vault_dir}/from-session", secret={"a": "b"})
    assert refused(lambda: vault.create_or_update_secret(path="users/bob/x", secret={"a": "b"}))


async def test_leaving_the_group_ends_access_at_the_next_renewal(servers):
    idp, sw, bao = servers
    b = broker(sw, bao)
    before = await b.credentials("bob", id_token(idp, "bob"))
    s3_of(sw, before.s3).list_objects_v2(Bucket=DEMO.bucket)
    users = {**USERS, "bob": {**USERS["bob"], "groups": ["datalab-users"]}}
    idp.set_users(users)
    try:
        after = await b.credentials("bob", id_token(idp, "bob"), force=True)  # the renewal
        assert set(attempts_on_project(s3_of(sw, after.s3)).values()) == {"AccessDenied"}
        # Vault: the renewal's login took bob's entity out of the project's group, so even the token he
        # had before lost the project's policy at once.
        for token in (before.vault.token, after.vault.token):
            vault = kv(token.get_secret_value(), bao)
            assert refused(lambda v=vault: v.list_secrets(path=DEMO.vault_dir)) == "Forbidden"
    finally:
        idp.set_users(USERS)


def projects_settings():
    from traitlets.config import Config

    from hub.projects.settings import Projects

    c = Config()
    c.Projects.group_prefix = seaweed.PROJECT_PREFIX
    c.Projects.session_role_arn_template = seaweed.PROJECT_ROLE_TEMPLATE
    c.Projects.vault_session_auth_mount = openbao.PROJECTS_JWT_MOUNT
    c.Projects.vault_session_role_template = openbao.PROJECT_ROLE_TEMPLATE
    return Projects(config=c)


async def test_a_project_session_gets_the_projects_credentials_and_none_of_its_owners(servers):
    from hub.projects import session

    idp, sw, bao = servers
    document, env = await session.credentials(
        broker(sw, bao), projects_settings(), "demo", "bob", id_token(idp, "bob")
    )
    assert (env["DATALAB_S3_BUCKET"], env["VAULT_TOP_DIR"], env[session.ENV]) == (
        "project-demo",
        "projects/demo",
        "demo",
    )
    assert (document.s3.bucket, document.vault.top_dir) == ("project-demo", "projects/demo")
    s3 = s3_of(sw, document.s3)
    s3.put_object(Bucket=DEMO.bucket, Key="from-session.txt", Body=b"x")
    assert refused(lambda: s3.list_objects_v2(Bucket="user-bob")) == "AccessDenied"  # not the owner's bucket
    vault = kv(document.vault.token.get_secret_value(), bao)
    vault.create_or_update_secret(path=f"{DEMO.vault_dir}/s", secret={"a": "b"})
    assert (
        refused(lambda: vault.create_or_update_secret(path="users/bob/s", secret={"a": "b"})) == "Forbidden"
    )


async def test_a_non_member_gets_no_project_session(servers):
    from hub.credentials.errors import BrokerError
    from hub.projects import session

    idp, sw, bao = servers
    with pytest.raises(BrokerError, match="not a member of the project 'demo'"):
        await session.credentials(
            broker(sw, bao), projects_settings(), "demo", "carol", id_token(idp, "carol")
        )


def test_only_a_project_servers_own_token_is_answered_for_its_project():
    from types import SimpleNamespace

    from hub.projects.session import server_project

    owner = SimpleNamespace(
        base_url="/user/bob/",
        spawners={
            "": SimpleNamespace(user_options={"service": "py"}),
            "team": SimpleNamespace(user_options={"service": "py", "project": "demo"}),
        },
    )
    assert server_project(owner, SimpleNamespace(note="Server at /user/bob/team/")) == "demo"
    assert server_project(owner, SimpleNamespace(note="Server at /user/bob/")) == ""  # his personal server
    assert server_project(owner, SimpleNamespace(note="my laptop")) == ""
    assert server_project(owner, None) == ""


async def test_an_event_dataset_is_read_only_for_participants_and_writable_by_organisers(servers):
    idp, sw, bao = servers
    b = broker(sw, bao)
    carol = s3_of(sw, (await b.credentials("carol", id_token(idp, "carol"))).s3)  # a participant
    assert carol.get_object(Bucket="events", Key="hack/census/2026.csv")["Body"].read() == b"region,n\n"
    assert carol.list_objects_v2(Bucket="events", Prefix="hack/census/")["KeyCount"] == 1
    assert (
        refused(lambda: carol.put_object(Bucket="events", Key="hack/census/mine.csv", Body=b"x"))
        == "AccessDenied"
    )
    assert refused(lambda: carol.delete_object(Bucket="events", Key="hack/census/2026.csv")) == "AccessDenied"
    assert refused(lambda: carol.get_object(Bucket="events", Key="other/secret.csv")) == "AccessDenied"
    assert refused(lambda: carol.list_objects_v2(Bucket="events", Prefix="other/")) == "AccessDenied"
    alice = s3_of(sw, (await b.credentials("alice", id_token(idp, "alice"))).s3)  # an organiser
    alice.put_object(Bucket="events", Key="hack/census/2027.csv", Body=b"region,n\n")
    bob = s3_of(sw, (await b.credentials("bob", id_token(idp, "bob"))).s3)  # neither
    assert refused(lambda: bob.get_object(Bucket="events", Key="hack/census/2026.csv")) == "AccessDenied"


async def test_a_project_the_s3_server_was_not_set_up_for_is_reported_and_left_out(servers):
    idp, sw, bao = servers
    alice = await broker(sw, bao).credentials("alice", id_token(idp, "alice"))
    [ghost], _ = resolve(RULES, ["project-ghost"])  # a group added after the servers were configured
    reached, problems = await access.reachable([DEMO, ghost], alice.s3, 10)
    assert reached == [DEMO]
    assert [str(p) for p in problems] == [
        "project ghost: s3://project-ghost/ is not reachable (AccessDenied): the S3 server is not set up for it"
    ]
    unavailable = json.loads(access.session_env(reached, problems)["DATALAB_PROJECTS_UNAVAILABLE"])
    assert unavailable == [{"name": "ghost", "reason": problems[0].reason}]  # what the session shows
    assert "project-ghost" not in {
        b["Name"] for b in sw.client().list_buckets()["Buckets"]
    }  # nothing half-made
