"""Projects on the one-machine datalab (`datalab up`): the demo project of alice and bob, with real sessions.

bob's session shows `s3/project-demo/` beside his own bucket and writes files there through the file
browser's API; alice reads it and the project's Vault folder with her own credentials; carol, who is not a
member, reaches nothing of it with her session's credentials. (STS and Vault logins made directly with a
non-member's id_token are attacked in tests/hub/projects/test_isolation.py, on the same server policies.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid

import hvac
import pytest
import requests
from botocore.exceptions import ClientError

from tests.support.datalab import credentials, running, s3_client, sign_in
from tests.support.idp import node_available

pytestmark = pytest.mark.skipif(not node_available(), reason="the IdP's npm packages are not installed")


@pytest.fixture(scope="module")
def lab():
    with running("datalab-projects-", accounts="dlp" + uuid.uuid4().hex[:5] + "-{username}") as lab:
        lab.passwords["carol"] = lab.add_user("carol")
        # dave is in the demo project and in one added after the S3 server was set up: its bucket is refused
        lab.passwords["dave"] = lab.add_user("dave", "datalab-users,project-demo,project-ghost")
        yield lab


def start_server(lab, token: str, user: str, name: str = "", **options) -> dict:
    h = {"Authorization": f"token {token}"}
    url = f"{lab.url}/hub/api/users/{user}/" + (f"servers/{name}" if name else "server")
    r = requests.post(url, json={"service": "jupyter-python", **options}, headers=h)
    assert r.status_code in (201, 202) or "already running" in r.text, r.text  # an earlier test's
    deadline = time.monotonic() + 150
    while not (
        requests.get(f"{lab.url}/hub/api/users/{user}", headers=h).json()["servers"].get(name) or {}
    ).get("ready"):
        assert time.monotonic() < deadline, f"{user}'s server did not start:\n{lab.output()[-3000:]}"
        time.sleep(0.5)
    return h


def test_members_share_the_demo_project_and_carol_reaches_nothing_of_it(lab):
    bob = sign_in(lab.url, "bob", lab.passwords["bob"])
    h = start_server(lab, bob, "bob")
    listing = requests.get(f"{lab.url}/user/bob/api/contents/s3", headers=h, timeout=60)
    assert listing.status_code == 200, listing.text
    assert {"user-bob", "project-demo"} <= {m["name"] for m in listing.json()["content"]}
    r = requests.put(
        f"{lab.url}/user/bob/api/contents/s3/project-demo/plan.md",
        json={"type": "file", "format": "text", "content": "# shared plan"}, headers=h, timeout=60,
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    # As Datalab's JupyterLab uploads a file into S3: its bytes as one streamed request, through the proxy.
    data = os.urandom(11 * 2**20 + 7)
    upload = f"{lab.url}/user/bob/datalab/upload/s3/project-demo/data.bin"
    r = requests.put(upload, data=data, headers=h, timeout=120)
    assert r.status_code == 201 and r.json()["size"] == len(data), r.text

    alice_creds = credentials(lab.url, sign_in(lab.url, "alice", lab.passwords["alice"]))
    body = s3_client(alice_creds).get_object(Bucket="project-demo", Key="plan.md")["Body"].read()
    assert body == b"# shared plan"
    stored = s3_client(alice_creds).get_object(Bucket="project-demo", Key="data.bin")["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    # Nobody else uploads through bob's session: not carol with her token, not without one. (alice is an
    # admin: JupyterHub's admin role reaches every server, docs/credentials.md.)
    carol_token = sign_in(lab.url, "carol", lab.passwords["carol"])
    for headers in ({"Authorization": f"token {carol_token}"}, {}):
        r = requests.put(upload, data=b"overwritten", headers=headers, timeout=60, allow_redirects=False)
        assert r.status_code in (302, 403), (headers.keys(), r.status_code, r.text[:300])
    stored = s3_client(alice_creds).get_object(Bucket="project-demo", Key="data.bin")["Body"].read()
    assert len(stored) == len(data)
    v = alice_creds["vault"]
    hvac.Client(url=v["addr"], token=v["token"], timeout=10).secrets.kv.v2.create_or_update_secret(
        path="projects/demo/db", secret={"password": "team"}, mount_point=v["mount"]
    )

    carol_creds = credentials(lab.url, carol_token)
    s3 = s3_client(carol_creds)
    for call in (
        lambda: s3.get_object(Bucket="project-demo", Key="plan.md"),
        lambda: s3.list_objects_v2(Bucket="project-demo"),
        lambda: s3.put_object(Bucket="project-demo", Key="carol.txt", Body=b"x"),
    ):
        with pytest.raises(ClientError, match="AccessDenied"):
            call()
    cv = carol_creds["vault"]
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=cv["addr"], token=cv["token"], timeout=10).secrets.kv.v2.read_secret_version(
            path="projects/demo/db", mount_point=cv["mount"], raise_on_deleted_version=True
        )


def test_a_session_shows_its_projects_vault_folders_and_says_which_storage_it_goes_without(lab):
    dave = sign_in(lab.url, "dave", lab.passwords["dave"])
    h = start_server(lab, dave, "dave")  # the refused project never stops the start
    r = requests.get(f"{lab.url}/user/dave/datalab/connection", headers=h, timeout=60)
    assert r.status_code == 200, r.text
    details = r.json()
    [demo] = [x for x in details["s3"]["locations"] if x["name"] == "project-demo"]
    mount = details["vault"]["mount"]
    assert demo["project"] == "demo" and demo["vault_path"] == f"{mount}/projects/demo"
    assert {"name": "demo", "path": f"{mount}/projects/demo"} in details["vault"]["projects"]
    assert "project-ghost" not in {x["name"] for x in details["s3"]["locations"]}  # never half-made
    [ghost] = details["unavailable_projects"]
    assert ghost["name"] == "ghost" and "AccessDenied" in ghost["reason"], ghost
    notices = requests.get(f"{lab.url}/user/dave/datalab/notices", headers=h, timeout=60).json()["notices"]
    [notice] = [n for n in notices if n["kind"] == "project-unavailable"]
    assert "project ghost" in notice["message"] and "AccessDenied" in notice["message"], notice
    listing = requests.get(f"{lab.url}/user/dave/api/contents/s3", headers=h, timeout=60)
    assert {"user-dave", "project-demo"} <= {m["name"] for m in listing.json()["content"]}


RENEW = """
import json, os, urllib.request
req = urllib.request.Request(os.environ["JUPYTERHUB_API_URL"] + "/datalab/credentials",
                             headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]})
doc = json.load(urllib.request.urlopen(req))
print(json.dumps({"doc": doc, "home": os.environ["HOME"]}))
"""


def test_a_project_server_holds_the_projects_credentials_only_even_for_whoever_reads_its_token(lab):
    from types import SimpleNamespace

    from tests.support.idp import login
    from tests.support.kernel import run_code

    bob = sign_in(lab.url, "bob", lab.passwords["bob"])
    h = start_server(lab, bob, "bob", "team", project="demo")
    listing = requests.get(f"{lab.url}/user/bob/team/api/contents/s3", headers=h, timeout=60)
    assert [m["name"] for m in listing.json()["content"]] == ["project-demo"]  # not his own bucket
    # What a visitor of the shared server can do: read the server's token and ask for credentials.
    hub = SimpleNamespace(url=lab.url, admin_token=bob, session=requests.Session())
    hub.get = lambda path, **kw: requests.get(lab.url + path, headers=h, timeout=30)
    got = json.loads(run_code(hub, "bob", RENEW, server="team").strip().splitlines()[-1])
    doc = got["doc"]
    assert (doc["s3"]["bucket"], doc["vault"]["top_dir"]) == ("project-demo", "projects/demo")
    s3 = s3_client(doc)
    s3.put_object(Bucket="project-demo", Key="from-team.txt", Body=b"x")
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.list_objects_v2(Bucket="user-bob")
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(
            url=doc["vault"]["addr"], token=doc["vault"]["token"], timeout=10
        ).secrets.kv.v2.list_secrets(path="users/bob", mount_point=doc["vault"]["mount"])
    assert not got["home"].endswith("bob")  # a home of its own, not bob's personal one
    # carol cannot start a server in a project she is not in
    carol = sign_in(lab.url, "carol", lab.passwords["carol"])
    r = requests.post(
        f"{lab.url}/hub/api/users/carol/servers/x",
        json={"service": "jupyter-python", "project": "demo"},
        headers={"Authorization": f"token {carol}"},
    )
    assert r.status_code == 403 and "not a member" in r.text, r.text
    # its share page says what it holds, and whom to share it with; the personal one says "act as you"
    browser = requests.Session()
    login(browser, "bob", lab.passwords["bob"], start_url=lab.url + "/hub/oauth_login?next=/hub/home")
    page = browser.get(lab.url + "/hub/datalab/share/team", timeout=30)
    assert page.status_code == 200, page.text[:300]
    text = " ".join(re.sub(r"<[^>]+>", " ", page.text).split())
    assert "runs in the project demo" in text and "none of yours" in text and "project-demo" in text
    personal = browser.get(lab.url + "/hub/datalab/share", timeout=30).text
    assert "act as you" in " ".join(re.sub(r"<[^>]+>", " ", personal).split())


def test_bobs_browser_sends_a_big_upload_straight_to_s3_which_admits_the_datalabs_pages_only(lab):
    bob = sign_in(lab.url, "bob", lab.passwords["bob"])
    h = start_server(lab, bob, "bob")
    base = f"{lab.url}/user/bob/datalab"
    direct = requests.get(f"{base}/upload", headers=h, timeout=60).json()["direct"]
    assert direct and direct["part_size"] >= 5 * 2**20, direct
    data = os.urandom(direct["part_size"] + 4099)
    where = f"{base}/direct-upload/s3/project-demo/direct.bin"
    r = requests.post(where, json={"size": len(data)}, headers=h, timeout=60)
    assert r.status_code == 201, r.text
    started = r.json()
    assert (started["parts"], started["checksum"]) == (2, None), started  # loopback: the length signed
    etags, size = [], started["part_size"]
    for n, piece in enumerate((data[:size], data[size:]), 1):
        r = requests.post(where, json={"id": started["id"], "part": n}, headers=h, timeout=60)
        assert r.status_code == 200, r.text
        signed = r.json()
        # signed with the session's STS credentials, on S3 as this machine's browsers reach it
        assert "X-Amz-Security-Token=" in signed["url"] and not signed["url"].startswith(lab.url)
        headers = {**signed["headers"], "Origin": lab.url}
        preflight = {"Access-Control-Request-Method": "PUT"}  # as Chromium asks (PUT is not safelisted)
        if signed["headers"]:
            preflight["Access-Control-Request-Headers"] = ",".join(signed["headers"])
        ok = requests.options(signed["url"], headers={"Origin": lab.url, **preflight}, timeout=30)
        assert ok.headers.get("Access-Control-Allow-Origin") == lab.url, (ok.status_code, dict(ok.headers))
        allowed = {h.strip().lower() for h in ok.headers.get("Access-Control-Allow-Headers", "").split(",")}
        assert "*" in allowed or {h.lower() for h in signed["headers"]} <= allowed, allowed
        assert "PUT" in ok.headers.get("Access-Control-Allow-Methods", ""), dict(ok.headers)
        for stranger in ("http://127.0.0.1:1", "https://evil.example"):
            other = requests.options(signed["url"], headers={"Origin": stranger, **preflight}, timeout=30)
            assert other.headers.get("Access-Control-Allow-Origin") in (None, ""), (
                stranger,
                dict(other.headers),
            )
        r = requests.put(signed["url"], data=piece, headers=headers, timeout=60)
        assert r.status_code == 200, r.text
        assert r.headers.get("Access-Control-Allow-Origin") == lab.url
        assert "etag" in r.headers.get("Access-Control-Expose-Headers", "").lower(), dict(r.headers)
        etags.append(r.headers["ETag"])
    # carol cannot complete (or sign) bob's upload through his session
    carol = {"Authorization": f"token {sign_in(lab.url, 'carol', lab.passwords['carol'])}"}
    r = requests.put(
        where, json={"id": started["id"], "etags": etags}, headers=carol, timeout=60, allow_redirects=False
    )
    assert r.status_code in (302, 403), (r.status_code, r.text[:300])
    r = requests.put(where, json={"id": started["id"], "etags": etags}, headers=h, timeout=60)
    assert r.status_code == 201 and r.json()["size"] == len(data), r.text
    alice_creds = credentials(lab.url, sign_in(lab.url, "alice", lab.passwords["alice"]))
    stored = s3_client(alice_creds).get_object(Bucket="project-demo", Key="direct.bin")["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
