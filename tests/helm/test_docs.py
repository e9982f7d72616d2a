"""docs/deploy.md and docs/operate.md: every block is exercised or quoted from a tested file.

Each fenced block carries a marker comment on the line above it:
- `verbatim: PATH`  the block's lines appear, consecutively, in PATH (a tested file);
- `command`         every line is run here, or checked against what the tests run (see COMMANDS);
- `bao`             the OpenBao setup, run against a real OpenBao with the development IdP as Keycloak;
- `seaweedfs-iam`   the SeaweedFS IAM configuration, run with a real SeaweedFS and IdP tokens;
- `vendor: NAME`    Keycloak and MinIO, which do not run here: checked against the values.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import botocore.exceptions
import pytest
import yaml

from tests.helm import values as chart

REPO = chart.REPO
DOCS = [REPO / "docs" / "deploy.md", REPO / "docs" / "operate.md"]
BLOCK = re.compile(r"<!-- (?P<marker>[^>]*?) -->\n```(?P<lang>\w*)\n(?P<body>.*?)\n```", re.S)
VALUES = yaml.safe_load(chart.VALUES.read_text())
HUB_CONFIG = VALUES["hub"]["config"]
ISSUER = HUB_CONFIG["DatalabOAuthenticator"]["oidc_issuer"]
CLIENT_ID = HUB_CONFIG["DatalabOAuthenticator"]["client_id"]


def blocks(marker: str | None = None) -> list[tuple[Path, str, str]]:
    found = []
    for doc in DOCS:
        for m in BLOCK.finditer(doc.read_text()):
            if marker is None or m["marker"] == marker or m["marker"].startswith(marker + ":"):
                found.append((doc, m["marker"], m["body"]))
    return found


def test_every_block_has_a_marker():
    for doc in DOCS:
        text = doc.read_text()
        fences = len(re.findall(r"^```\w*$", text, re.M)) // 2
        assert fences == len(list(BLOCK.finditer(text))), f"{doc.name}: a code block without a marker"
    known = ("verbatim", "command", "bao", "seaweedfs-iam", "vendor")
    for doc, marker, _ in blocks():
        assert marker.split(":")[0] in known, f"{doc.name}: unknown marker {marker!r}"


def test_verbatim_blocks_are_in_their_files():
    for doc, marker, body in blocks("verbatim"):
        path = REPO / marker.split(":", 1)[1].strip()
        lines = path.read_text().splitlines()
        want = body.splitlines()
        assert any(lines[i : i + len(want)] == want for i in range(len(lines))), (
            f"{doc.name}: block not found verbatim in {path.name}:\n{body}"
        )


def test_paths_and_metrics_named_in_the_docs_exist():
    import jupyterhub.metrics as metrics

    known = {getattr(m, "_name", None) for m in vars(metrics).values()}
    for doc in DOCS:
        text = doc.read_text()
        for path in re.findall(r"`((?:helm-values|profiles|images|docs)/[\w./-]*)`", text):
            assert (REPO / path.rstrip("/")).exists(), f"{doc.name}: {path} does not exist"
        for name in re.findall(r"`(jupyterhub_[a-z_]+)`", text):
            assert name in known, f"{doc.name}: {name} is not a JupyterHub metric"
    assert "${aws:username}" not in "".join(body for _, _, body in blocks())


# ---- commands --------------------------------------------------------------------------------------------
def _run(cmd: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = subprocess.run(
        ["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True, timeout=60, env=env, **kw
    )
    assert out.returncode == 0, f"{cmd}\n{out.stdout}\n{out.stderr}"
    return out


def _secret_from(cmd: str) -> dict:
    cmd = cmd.replace("OLD_CRYPT_KEY", "b" * 64).replace(" | kubectl apply -f -", "")
    if "--dry-run" not in cmd:
        cmd += " --dry-run=client -o yaml"
    secret = yaml.safe_load(_run(cmd).stdout)
    refs = {
        spec["valueFrom"]["secretKeyRef"]["key"]
        for spec in VALUES["hub"]["extraEnv"].values()
        if isinstance(spec, dict)
        and spec.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "datalab-hub"
    }
    assert set(secret["data"]) == refs, "the Secret has exactly the keys the values read"
    return secret


def check_command(line: str, tmp_path: Path) -> None:
    if line.startswith("REGISTRY=") and "images/build.sh" in line:
        assert "registry.example.org/datalab/datalab-hub:" in _run(line + " --dry-run").stdout
    elif line == "kubectl create namespace datalab":
        _run(line + " --dry-run=client -o yaml")
    elif line.startswith("kubectl create secret generic datalab-hub"):
        import base64

        from jupyterhub.crypto import CryptKeeper

        secret = _secret_from(line)
        keys = base64.b64decode(secret["data"]["crypt-key"]).decode().split(";")
        assert len(CryptKeeper(keys=keys).keys) == len(keys) >= 1, "crypt-key holds valid keys"
    elif line.startswith("datalab profiles lint"):
        _run(line)
    elif line.startswith("kubectl create configmap"):
        left, _, right = line.partition(" | ")
        assert right == "kubectl apply -f -" and left in chart.CONFIGMAP_COMMANDS.values()
        _run(left)
    elif line.startswith("helm upgrade --install"):
        words = shlex.split(line)
        assert words[3:5] == [chart.RELEASE, "jupyterhub"]
        assert words[words.index("--version") + 1] == "4.4.0"
        assert words[words.index("--namespace") + 1] == chart.NAMESPACE
        for i, w in enumerate(words):
            if w == "--values":
                assert (REPO / words[i + 1]).is_file()
        header = " ".join(chart.VALUES.read_text().replace("\\\n#", " ").split())
        assert line.split(" --values")[0] in header, "the same command as values.yaml's header"
    elif line == "kubectl --namespace datalab rollout restart deployment/hub":
        assert chart.merged_values(chart.VALUES)["fullnameOverride"] == "", "the hub Deployment is `hub`"
    elif line.startswith("kubectl --namespace datalab exec deploy/hub -- python3 -c "):
        code = shlex.split(line)[-1].replace("/srv/jupyterhub/", f"{tmp_path}/")
        db = sqlite3.connect(tmp_path / "jupyterhub.sqlite")
        db.execute("create table users (name text)")
        db.execute("insert into users values ('alice')")
        db.commit()
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        copy = sqlite3.connect(tmp_path / "backup.sqlite")
        assert copy.execute("select name from users").fetchall() == [("alice",)]
    else:
        pytest.fail(f"no test exercises the documented command: {line}")


def test_documented_commands_run(tmp_path):
    lines = [
        line
        for _, _, body in blocks("command")
        for line in body.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines
    for i, line in enumerate(lines):
        work = tmp_path / str(i)
        work.mkdir()
        check_command(line, work)


def test_vendor_blocks_agree_with_the_values():
    keycloak = "\n".join(b for _, m, b in blocks("vendor: keycloak"))
    realm = ISSUER.rsplit("/realms/", 1)[1]
    assert f"Realm:                       {realm}" in keycloak
    assert f"Client ID:                   {CLIENT_ID}" in keycloak
    assert HUB_CONFIG["DatalabOAuthenticator"]["oauth_callback_url"] in keycloak
    assert 'token claim name "groups"' in keycloak and "preferred_username" in keycloak
    minio = [b for _, m, b in blocks("vendor: minio")]
    cmds = next(b for b in minio if "mc admin" in b)
    assert f'config_url="{ISSUER}/.well-known/openid-configuration"' in cmds
    assert f'client_id="{CLIENT_ID}"' in cmds
    assert HUB_CONFIG["CredentialBroker"]["s3_role_arn"].startswith("arn:minio:iam:::role/")
    policy = json.loads(next(b for b in minio if b.startswith("{")))
    bucket = HUB_CONFIG["CredentialBroker"]["s3_bucket_template"].format(username="${jwt:preferred_username}")
    assert policy["Statement"][0]["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    weed = json.loads(blocks("seaweedfs-iam")[0][2])
    assert weed["policies"][0]["document"]["Statement"][0] == policy["Statement"][0], "same user policy"


# ---- SeaweedFS and OpenBao, for real ---------------------------------------------------------------------
USERS = {
    "alice": {"password": "alice-pw", "groups": ["datalab-users", "project-x"]},
    "bob": {"password": "bob-pw", "groups": ["datalab-users"]},
    "carol": {"password": "carol-pw", "groups": []},
}


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    from tests.support.idp import node_available, run_idp

    if not node_available():
        pytest.skip("node or hub/idp/node_modules missing (run scripts/bootstrap.sh)")
    with run_idp(tmp_path_factory.mktemp("docs-idp"), users=USERS) as idp:
        yield idp


def id_token(idp, user: str) -> str:
    return idp.tokens(user, USERS[user]["password"])["id_token"]


def _denied(call) -> bool:
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"] in ("AccessDenied", "Forbidden", "403", "InvalidAccessKeyId")
    return False


def test_seaweedfs_iam_from_the_docs_isolates_users_and_gates_roles_on_groups(idp, tmp_path):
    import base64
    import secrets

    from tests.support.seaweedfs import run_seaweedfs

    text = blocks("seaweedfs-iam")[0][2]
    text = text.replace(
        "https://keycloak.example.org/realms/datalab/protocol/openid-connect/certs", f"{idp.issuer}/jwks"
    )
    text = text.replace(ISSUER, idp.issuer).replace(
        f'"clientId": "{CLIENT_ID}"', f'"clientId": "{idp.test_client_id}"'
    )
    text = text.replace("BASE64_OF_32_RANDOM_BYTES", base64.b64encode(secrets.token_bytes(32)).decode())
    iam = json.loads(text)
    user_role, group_role = (r["roleArn"] for r in iam["roles"])
    with run_seaweedfs(tmp_path / "weed", iam=iam) as sw:
        for bucket in ("user-alice", "user-bob", "project-x"):
            sw.make_bucket(bucket)
        sw.client().put_object(Bucket="user-bob", Key="secret.txt", Body=b"bob's")
        sts = sw.sts()

        def assume(user: str, role: str, session: str | None = None):
            creds = sts.assume_role_with_web_identity(
                RoleArn=role, RoleSessionName=session or user, WebIdentityToken=id_token(idp, user)
            )["Credentials"]
            return sw.client(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

        alice = assume("alice", user_role)
        alice.put_object(Bucket="user-alice", Key="a.txt", Body=b"a")
        assert _denied(lambda: alice.get_object(Bucket="user-bob", Key="secret.txt"))
        # the ${aws:username} trap: the session name is the caller's choice, the token's name is not
        posing = assume("alice", user_role, session="bob")
        assert _denied(lambda: posing.get_object(Bucket="user-bob", Key="secret.txt"))
        alice.put_object(Bucket="project-x", Key="x", Body=b"x")  # a member: her own role reaches it
        bob = assume("bob", user_role)
        assert _denied(lambda: bob.get_object(Bucket="project-x", Key="x"))  # not a member
        project = assume("alice", group_role)
        project.put_object(Bucket="project-x", Key="y", Body=b"y")
        assert _denied(lambda: project.get_object(Bucket="user-alice", Key="a.txt"))  # the project only
        for session in ("bob", "alice", "project-x"):
            with pytest.raises(botocore.exceptions.ClientError):
                assume("bob", group_role, session=session)  # not in project-x, whatever the name
        with pytest.raises(botocore.exceptions.ClientError):
            assume("carol", user_role)  # not in datalab-users


def test_openbao_setup_from_the_docs_gives_each_user_their_folder(idp, tmp_path):
    import hvac

    from tests.support.openbao import run_openbao

    script = "\n".join(b for _, _, b in blocks("bao")).replace(ISSUER, idp.issuer)
    script = script.replace(f"bound_audiences={CLIENT_ID}", f"bound_audiences={idp.test_client_id}")
    script = script.replace(
        f'"bound_audiences": ["{CLIENT_ID}"]', f'"bound_audiences": ["{idp.test_client_id}"]'
    )
    with run_openbao(tmp_path / "bao") as bao:
        env = {**os.environ, "BAO_ADDR": bao.addr, "VAULT_ADDR": bao.addr, "BAO_TOKEN": bao.root_token}
        env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
        subprocess.run(["bao", "secrets", "disable", "secret"], env=env, check=True, capture_output=True)
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stdout + out.stderr
        broker = HUB_CONFIG["CredentialBroker"]
        tokens = {}
        for user in ("alice", "bob"):
            login = hvac.Client(url=bao.addr).auth.jwt.jwt_login(
                role=broker["vault_role"], jwt=id_token(idp, user), path=broker["vault_auth_mount"]
            )
            tokens[user] = hvac.Client(url=bao.addr, token=login["auth"]["client_token"])
        top = broker["vault_top_dir_template"]
        kv = tokens["alice"].secrets.kv.v2
        kv.create_or_update_secret(
            f"{top.format(username='alice')}/db", {"pw": "x"}, mount_point=broker["vault_kv_mount"]
        )
        with pytest.raises(hvac.exceptions.Forbidden):
            kv.create_or_update_secret(f"{top.format(username='bob')}/db", {"pw": "y"}, mount_point="secret")
        # section 5: alice's project folder; bob, not a member, is refused it and its session role
        kv.create_or_update_secret("projects/x/db", {"pw": "team"}, mount_point="secret")
        with pytest.raises(hvac.exceptions.Forbidden):
            tokens["bob"].secrets.kv.v2.read_secret_version("projects/x/db", raise_on_deleted_version=True)
        with pytest.raises(hvac.exceptions.InvalidRequest):
            hvac.Client(url=bao.addr).auth.jwt.jwt_login(
                "project-x", id_token(idp, "bob"), path="jwt-projects"
            )
        session = hvac.Client(url=bao.addr).auth.jwt.jwt_login(
            "project-x", id_token(idp, "alice"), path="jwt-projects"
        )
        project = hvac.Client(url=bao.addr, token=session["auth"]["client_token"]).secrets.kv.v2
        project.read_secret_version("projects/x/db", raise_on_deleted_version=True)
        with pytest.raises(hvac.exceptions.Forbidden):
            project.read_secret_version(f"{top.format(username='alice')}/db", raise_on_deleted_version=True)
