"""The fast ListObjectsV2 parser gives what botocore's own parser gives, on a real SeaweedFS page."""

from __future__ import annotations

import botocore.session
from botocore.parsers import RestXMLParser

from jupyter_s3_ext.contents.listing import EMPTY, fast_parse, parse_list_v2

FIELDS = ("IsTruncated", "KeyCount", "NextContinuationToken", "EncodingType", "Prefix", "Delimiter")


def test_same_result_as_botocore(seaweed):
    c = seaweed.client()
    c.create_bucket(Bucket="parse-check")
    for k in ("p/a b.txt", "p/ünï %2F+&.csv", "p/sub/x", "p/sub2/y", "p/z"):
        c.put_object(Bucket="parse-check", Key=k, Body=b"12345")
    captured = {}

    def grab(response_dict, **_):
        captured["body"] = response_dict["body"]

    c.meta.events.register("before-parse.s3.ListObjectsV2", grab)
    c.list_objects_v2(Bucket="parse-check", Prefix="p/", Delimiter="/", MaxKeys=3, EncodingType="url")
    body = captured["body"]
    model = botocore.session.get_session().get_service_model("s3").operation_model("ListObjectsV2")
    theirs = RestXMLParser().parse({"body": body, "headers": {}, "status_code": 200}, model.output_shape)
    ours = parse_list_v2(body)
    for f in FIELDS:
        assert ours.get(f) == theirs.get(f), f
    strip = lambda items, ks: [{k: i[k] for k in ks} for i in items]  # noqa: E731
    assert strip(ours["Contents"], ("Key", "Size", "LastModified")) == strip(
        theirs["Contents"], ("Key", "Size", "LastModified")
    )
    assert ours.get("CommonPrefixes", []) == theirs.get("CommonPrefixes", [])


def test_errors_are_left_to_botocore():
    rd = {"status_code": 403, "body": b"<Error><Code>AccessDenied</Code></Error>"}
    custom = {}
    fast_parse(rd, custom)
    assert custom == {} and rd["body"].startswith(b"<Error>")
    rd = {"status_code": 200, "body": b"not xml"}
    fast_parse(rd, custom)
    assert custom == {} and rd["body"] == b"not xml"
    rd = {
        "status_code": 200,
        "body": b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
    }
    fast_parse(rd, custom)
    assert custom == {"IsTruncated": False} and rd["body"] == EMPTY
