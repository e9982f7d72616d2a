"""Which groups are projects and where they live (hub.projects.model, .settings): names mapped or refused with
a message naming the group, two projects on one location refused, settings that cannot work refused at start."""

from __future__ import annotations

import base64
import json

import pytest
from traitlets.config import Config

from hub.projects.model import ProjectError, ProjectRules, check_rules, map_name, project_of, resolve
from hub.projects.settings import Projects, token_groups


def test_a_prefix_makes_projects_of_matching_groups_only():
    rules = ProjectRules(group_prefix="project-")
    projects, problems = resolve(rules, ["project-demo", "datalab-users", "project-Sales_2026"])
    assert problems == []
    assert [(p.name, p.group, p.bucket, p.prefix, p.vault_dir) for p in projects] == [
        ("demo", "project-demo", "project-demo", "", "projects/demo"),
        ("sales-2026", "project-Sales_2026", "project-sales-2026", "", "projects/sales-2026"),
    ]


def test_listed_groups_are_projects_and_keycloak_paths_are_mapped():
    rules = ProjectRules(groups=("/Climate Lab",))
    [p], _ = resolve(rules, ["/Climate Lab", "other"])
    assert (p.name, p.bucket, p.folder) == ("climate-lab", "project-climate-lab", "project-climate-lab")


def test_a_group_whose_name_cannot_be_mapped_is_refused_naming_it():
    with pytest.raises(ProjectError, match=r"group '\+\+\+' cannot be a project"):
        map_name("+++")
    projects, problems = resolve(ProjectRules(group_prefix="p-"), ["p-" + "x" * 100, "p-ok"])
    assert [p.name for p in projects] == ["ok"]
    assert len(problems) == 1 and "cannot be a project" in problems[0] and "..." in problems[0]


def test_an_unmappable_group_can_be_named():
    rules = ProjectRules(groups=("研究",), names={"研究": "research"})
    assert project_of(rules, "研究").bucket == "project-research"


def test_two_groups_mapping_to_one_project_are_both_refused():
    projects, problems = resolve(
        ProjectRules(group_prefix="project-"), ["project-demo", "project-Demo", "project-x"]
    )
    assert [p.name for p in projects] == ["x"]
    assert "'project-Demo' and 'project-demo' map to the same project location" in problems[0]


def test_two_projects_on_one_bucket_are_refused_at_start():
    with pytest.raises(ProjectError, match="give every project the same location"):
        check_rules(ProjectRules(group_prefix="p-", bucket_template="shared"))
    with pytest.raises(ProjectError, match="same project location"):
        check_rules(ProjectRules(groups=("a_b", "a-b")))


def test_a_shared_bucket_with_a_prefix_per_project_is_fine():
    rules = ProjectRules(groups=("p-a", "p-b"), bucket_template="projects", prefix_template="{project}/")
    assert [(p.bucket, p.prefix) for p in check_rules(rules)] == [("projects", "p-a/"), ("projects", "p-b/")]


def test_bad_templates_are_refused_at_start():
    with pytest.raises(ProjectError, match="only {project} may be used"):
        check_rules(ProjectRules(group_prefix="p-", bucket_template="project-{name}"))
    with pytest.raises(ProjectError, match="not a valid bucket name"):
        check_rules(ProjectRules(group_prefix="p-", bucket_template="Project_{project}"))


def _token(claims: dict) -> str:
    def part(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.sig"


def test_the_groups_come_from_the_id_token_claim():
    assert token_groups(_token({"groups": ["a", "b", 3]}), "groups") == ["a", "b"]
    assert token_groups(_token({"roles": "a"}), "roles") == ["a"]
    assert token_groups("garbage", "groups") == [] == token_groups(None, "groups")


def test_the_settings_reach_the_rules_and_a_bad_one_stops_the_hub():
    c = Config()
    c.Projects.group_prefix = "project-"
    projects = Projects(config=c)
    assert projects.of_token(_token({"groups": ["project-demo", "x"]}))[0][0].name == "demo"
    assert projects.session_role_arn(projects.of_token(_token({"groups": ["project-demo"]}))[0][0]).endswith(
        "/datalab-project-demo"
    )
    c.Projects.bucket_template = "one-bucket"
    with pytest.raises(ProjectError):
        import hub

        hub.configure(c)
    assert Projects().of_token(_token({"groups": ["project-demo"]})) == ([], [])  # off by default
