"""The spawn form: offered services only, inputs bounded by the catalog, and form -> user_options round trips."""

import dataclasses
import re
from datetime import UTC, datetime
from html import unescape as html_unescape
from html.parser import HTMLParser

import pytest
from jupyterhub.utils import format_exception

from spawner.catalog import OptionsError, default_catalog_dir, load_catalog, resolve, validate_options
from spawner.errors import SpawnException
from spawner.kube.offline import make_spawner, offline_kube_config
from spawner.runtime import form

CATALOG = load_catalog(default_catalog_dir())


def offers_for(*groups):
    return resolve(CATALOG, groups, datetime.now(UTC))


VOID = {"input", "img", "br", "meta", "link", "hr", "source"}


class FormParser(HTMLParser):
    """Collects, per service, the named inputs/selects of its card and its options panel (both carry
    `data-service`) the way a browser sees them, and the text of both."""

    def __init__(self):
        super().__init__()
        self.cards = {}  # service -> {"inputs": [attrs], "selects": {name: [(value, selected)]}, "text": str}
        self.stack = []  # (service, depth at which its element opened)
        self.depth = 0
        self.select = None
        self.scripts = []
        self.in_script = False
        self.off = []  # services shown as unavailable cards

    @property
    def current(self):
        return self.cards[self.stack[-1][0]] if self.stack else None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-service" in a:
            self.cards.setdefault(a["data-service"], {"inputs": [], "selects": {}, "text": ""})
            if "datalab-off" in (a.get("class") or ""):
                self.off.append(a["data-service"])
            if tag not in VOID:
                self.stack.append((a["data-service"], self.depth))
        if tag not in VOID:
            self.depth += 1
        if tag == "input" and self.current is not None:
            self.current["inputs"].append(a)
        elif tag == "select" and self.current is not None:
            self.select = a.get("name")
            self.current["selects"][self.select] = []
        elif tag == "option" and self.select:
            self.current["selects"][self.select].append((a.get("value"), "selected" in a))
        elif tag == "script":
            self.in_script = True

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        self.depth -= 1
        if self.stack and self.stack[-1][1] == self.depth:
            self.stack.pop()
        if tag == "select":
            self.select = None
        elif tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script:
            self.scripts.append(data)
        elif self.current is not None:
            self.current["text"] += data


def parse(html):
    p = FormParser()
    p.feed(html)
    return p


def submit(card, service, changes=None, check_postgres=None):
    """What a browser posts when `service`'s card is chosen (other cards are disabled by the script)."""
    changes = changes or {}
    data = {"service": [service], "_xsrf": ["token"]}
    for a in card["inputs"]:
        name = a.get("name")
        if not name or "disabled" in a or name == "service":
            continue
        if a.get("type") == "checkbox":
            checked = "checked" in a if check_postgres is None else check_postgres
            if checked:
                data.setdefault(name, []).append(a["value"])
            continue
        data.setdefault(name, []).append(changes.get(name, a.get("value", "")))
    for name, options in card["selects"].items():
        chosen = changes.get(name) or next((v for v, sel in options if sel), options[0][0])
        data[name] = [chosen]
    return data


def test_form_shows_only_the_offered_services():
    users = parse(form.render_form(offers_for("datalab-users")))
    assert list(users.cards) == ["jupyter-python", "jupyter-r", "rstudio", "vscode-python"]
    both = parse(form.render_form(offers_for("datalab-users", "datalab-gpu")))
    assert "jupyter-python-gpu" in both.cards
    assert parse(form.render_form(offers_for("datalab-gpu"))).cards.keys() == {"jupyter-python-gpu"}


def test_no_offer_says_so():
    html = form.render_form([])
    assert "No service is offered to you" in html and not parse(html).cards


def test_cards_show_name_description_icon_and_list():
    offers = offers_for("datalab-users")
    html = form.render_form(offers)
    card = parse(html).cards["jupyter-python"]
    offer = next(o for o in offers if o.service == "jupyter-python")
    assert offer.display_name in card["text"] and offer.description in card["text"]
    assert offer.list_display_name in card["text"]
    assert 'src="data:image/svg+xml' in html


def test_number_inputs_carry_the_bounds():
    offers = {o.service: o for o in offers_for("datalab-users", "datalab-gpu")}
    cards = parse(form.render_form(offers.values())).cards
    for service, offer in offers.items():
        inputs = {a["name"]: a for a in cards[service]["inputs"] if a.get("type") == "number"}
        for option in ("cpu", "memory", "storage"):
            spec = offer.options[option]
            a = inputs[f"{service}--{option}"]
            assert float(a["min"]) == spec.min and float(a["max"]) == spec.max
            assert float(a["value"]) == spec.default
            steps = (spec.max - spec.min) / float(a["step"])
            assert abs(steps - round(steps)) < 1e-9  # max is reachable with the step
    gpu = {a.get("name"): a for a in cards["jupyter-python-gpu"]["inputs"]}["jupyter-python-gpu--gpu"]
    assert (gpu["min"], gpu["max"], gpu["step"]) == ("1", "2", "1")  # the GPU list narrows max to 2
    assert not any(a.get("name") == "jupyter-python--gpu" for a in cards["jupyter-python"]["inputs"])


def test_images_postgres_git_and_custom_image_inputs():
    cards = parse(form.render_form(offers_for("datalab-users"))).cards
    py = cards["jupyter-python"]
    assert [v for v, _ in py["selects"]["jupyter-python--image"]] == [
        "registry.example.org/datalab/datalab-python:2026.11",
        "registry.example.org/datalab/datalab-python:2026.05",
    ]
    names = {a.get("name") for a in py["inputs"]}
    assert {
        "jupyter-python--custom_image",
        "jupyter-python--git_repository",
        "jupyter-python--postgres",
    } <= names
    assert "jupyter-r--custom_image" not in {a.get("name") for a in cards["jupyter-r"]["inputs"]}


def test_catalog_text_is_escaped():
    offer = dataclasses.replace(offers_for("datalab-users")[0], description="<script>alert(1)</script>")
    html = form.render_form([offer])
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_unsafe_icon_is_dropped():
    offer = dataclasses.replace(offers_for("datalab-users")[0], icon="javascript:alert(1)")
    assert "javascript:" not in form.render_form([offer])


@pytest.mark.parametrize(
    "service", ["jupyter-python", "jupyter-r", "rstudio", "vscode-python", "jupyter-python-gpu"]
)
def test_defaults_round_trip_through_the_form(service):
    offers = offers_for("datalab-users", "datalab-gpu")
    card = parse(form.render_form(offers)).cards[service]
    options = form.options_from_form(submit(card, service))
    plan = validate_options(offers, options, username="alice")
    offer = next(o for o in offers if o.service == service)
    expected = offer.defaults()
    expected["git_repository"] = expected["git_repository"] or None
    assert plan.user_options == expected


def test_changed_values_round_trip_through_the_form():
    offers = offers_for("datalab-users")
    card = parse(form.render_form(offers)).cards["jupyter-python"]
    changes = {
        "jupyter-python--cpu": "2.5",
        "jupyter-python--memory": "8",
        "jupyter-python--storage": "20",
        "jupyter-python--git_repository": "https://github.com/org/repo.git",
        "jupyter-python--custom_image": "registry.example.org/datalab/datalab-python:2027.01",
    }
    options = form.options_from_form(submit(card, "jupyter-python", changes, check_postgres=True))
    plan = validate_options(offers, options, username="alice")
    assert (plan.cpu, plan.memory_gib, plan.storage_gib) == (2.5, 8, 20)
    assert plan.image == "registry.example.org/datalab/datalab-python:2027.01"
    assert plan.git_repository == "https://github.com/org/repo.git"
    assert plan.postgres is not None
    # and the form shows the saved options again, on that card
    again = parse(form.render_form(offers, plan.user_options)).cards["jupyter-python"]
    values = {a["name"]: a.get("value") for a in again["inputs"] if a.get("name")}
    assert values["jupyter-python--cpu"] == "2.5"
    assert values["jupyter-python--custom_image"] == "registry.example.org/datalab/datalab-python:2027.01"
    radio = next(a for a in again["inputs"] if a.get("name") == "service")
    assert "checked" in radio
    assert any("checked" in a for a in again["inputs"] if a.get("type") == "checkbox")


def test_out_of_bounds_form_values_are_refused_like_the_api():

    offers = offers_for("datalab-users")
    card = parse(form.render_form(offers)).cards["jupyter-python"]
    options = form.options_from_form(submit(card, "jupyter-python", {"jupyter-python--cpu": "99"}))
    with pytest.raises(OptionsError, match="between 0.5 and 4"):
        validate_options(offers, options, username="alice")


def test_options_from_form_ignores_other_cards_and_keeps_unknown_fields_for_validation():
    data = {
        "service": ["rstudio"],
        "jupyter-python--cpu": ["4"],
        "rstudio--cpu": ["2"],
        "rstudio--postgres": ["false", "true"],
        "_xsrf": ["x"],
    }
    assert form.options_from_form(data) == {"service": "rstudio", "cpu": "2", "postgres": "true"}
    tampered = {**data, "kubespawner_override": ["{}"], "rstudio--environment": ["X=1"]}
    options = form.options_from_form(tampered)
    assert options["kubespawner_override"] == "{}" and options["rstudio--environment"] == "X=1"
    with pytest.raises(OptionsError, match="unknown option 'kubespawner_override'"):
        validate_options(CATALOG.offers["default"], options, username="alice")
    assert form.options_from_form({"rstudio--postgres": ["false"]}) == {}
    assert form.options_from_form({"service": ["rstudio"], "rstudio--git_repository": [""]}) == {
        "service": "rstudio",
        "git_repository": "",
    }


async def test_spawner_renders_the_form_for_the_users_groups():
    with offline_kube_config():
        spawner = make_spawner(username="dave", groups=["datalab-gpu"])
        html = await spawner.get_options_form()
        assert list(parse(html).cards) == ["jupyter-python-gpu"]
        # saved options that no longer validate fall back to the defaults instead of breaking the form
        spawner.user_options = {"service": "jupyter-python-gpu", "gpu": 7}
        html = await spawner.get_options_form()
        gpu = {a.get("name"): a for a in parse(html).cards["jupyter-python-gpu"]["inputs"]}[
            "jupyter-python-gpu--gpu"
        ]
        assert gpu["value"] == "1"
        # a submitted form becomes the normalised options the REST API would store
        options = spawner.options_from_form(
            {"service": ["jupyter-python-gpu"], "jupyter-python-gpu--cpu": ["2"]}
        )
        assert options["service"] == "jupyter-python-gpu" and options["cpu"] == 2.0 and options["gpu"] == 1


def test_launch_links_use_plain_option_names():

    offers = offers_for("datalab-users")
    query = {"service": ["jupyter-r"], "cpu": ["2"], "postgres": ["true"], "_xsrf": ["x"]}
    options = form.options_from_query(query)
    assert options == {"service": "jupyter-r", "cpu": "2", "postgres": "true"}
    plan = validate_options(offers, options, username="alice")
    assert (plan.service, plan.cpu, plan.postgres is not None) == ("jupyter-r", 2, True)
    with pytest.raises(OptionsError, match="unknown option 'colour'"):
        validate_options(
            offers, form.options_from_query({"service": ["jupyter-r"], "colour": ["red"]}), username="a"
        )


def test_options_are_grouped_in_sections_like_onyxias_tabs():
    html = form.render_form(offers_for("datalab-users"))
    panel = html[html.index('id="datalab-panel-jupyter-python"') :]
    panel = panel[: panel.index("</section>")]
    sections = re.findall(
        r'<fieldset class="datalab-section" id="datalab-section-jupyter-python-(\w+)"', panel
    )
    assert sections == ["service", "resources", "storage", "git", "database"]
    tabs = re.findall(r'role="tab"[^>]*>([^<]+)</button>', panel)
    assert tabs == ["Service", "Resources", "Storage and data", "Git", "Database"]
    resources = panel[
        panel.index('<fieldset class="datalab-section" id="datalab-section-jupyter-python-resources"') :
    ]
    resources = resources[: resources.index("</fieldset>")]
    assert 'name="jupyter-python--cpu"' in resources and 'name="jupyter-python--memory"' in resources
    assert 'type="range"' in resources and "from 0.5 to 4 cores" in resources  # a slider and its bounds


def test_unavailable_services_are_greyed_cards_with_their_reason():
    offers = offers_for("datalab-users")
    html = form.render_form(
        offers, unavailable={"rstudio": "RStudio is not available on this machine: no rserver"}
    )
    parsed = parse(html)
    assert parsed.off == ["rstudio"]
    assert "RStudio is not available on this machine: no rserver" in parsed.cards["rstudio"]["text"]
    radio = next(a for a in parsed.cards["rstudio"]["inputs"] if a.get("type") == "radio")
    assert "disabled" in radio and "name" not in radio  # never submitted, cannot be chosen
    assert 'id="datalab-panel-rstudio"' not in html  # and it has no options to fill in
    # the first available service is chosen when the first offer cannot run here
    first = form.form_context(offers, unavailable={"jupyter-python": "no"})
    assert first["selected"] == "jupyter-r"


def test_the_custom_image_hint_is_readable_not_a_raw_regex():
    html = form.render_form(offers_for("datalab-users"))
    hint = re.search(r'id="jupyter-python--custom_image-hint">(.*?)</span>\s*</div>', html, re.S).group(1)
    text = re.sub(r"<[^>]+>", "", hint)
    assert "registry.example.org/datalab/datalab-python:‹4 digits›.‹2 digits›[.‹digits›]" in text
    assert "\\." not in text and "[0-9]" not in text  # no escaped regex left
    assert "For example registry.example.org/datalab/datalab-python:2026.11" in " ".join(text.split())


def test_a_refusal_keeps_every_value_and_puts_the_message_at_its_field():
    offers = offers_for("datalab-users")
    typed = {
        "service": "jupyter-python",
        "cpu": "3.5",
        "memory": "12",
        "storage": "30",
        "image": "docker.io/someone/else:1",
        "git_repository": "https://github.com/org/repo.git",
        "postgres": "true",
    }
    with pytest.raises(OptionsError) as refused:
        validate_options(offers, typed, username="alice")
    refusal = form.Refusal(typed, refused.value.field, refused.value.message)
    html = form.render_form(offers, refusal=refusal)
    card = parse(html).cards["jupyter-python"]
    values = {
        a["name"]: a.get("value") for a in card["inputs"] if a.get("name") and a.get("type") != "hidden"
    }
    assert values["jupyter-python--cpu"] == "3.5" and values["jupyter-python--memory"] == "12"
    assert values["jupyter-python--storage"] == "30"
    assert values["jupyter-python--custom_image"] == "docker.io/someone/else:1"
    assert values["jupyter-python--git_repository"] == "https://github.com/org/repo.git"
    assert "checked" in next(a for a in card["inputs"] if a.get("type") == "checkbox")
    assert "checked" in next(a for a in card["inputs"] if a.get("name") == "service")
    error = re.search(r'id="jupyter-python--custom_image-error"[^>]*>([^<]+)<', html).group(1)
    assert "does not match the allowed custom images" in html_unescape(error)
    field = re.search(r'<input type="text" id="jupyter-python--custom_image"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in field and "jupyter-python--custom_image-error" in field
    assert "SpawnException" not in html and "datalab-form-error" not in html  # at its field, in words


def test_a_refusal_about_no_field_is_shown_above_the_cards():
    offers = offers_for("datalab-users")
    refusal = form.Refusal({"service": "jupyter-r", "colour": "red"}, "colour", "unknown option 'colour'")
    html = form.render_form(offers, refusal=refusal)
    assert re.search(r'id="datalab-form-error">unknown option &#39;colour&#39;</p>', html)
    assert "checked" in next(
        a for a in parse(html).cards["jupyter-r"]["inputs"] if a.get("name") == "service"
    )


async def test_a_refused_submission_is_refused_before_starting_and_shown_once_with_its_values():
    with offline_kube_config():
        spawner = make_spawner(username="erin", groups=["datalab-users"])
        data = {"service": ["jupyter-python"], "jupyter-python--cpu": ["2"],
                "jupyter-python--git_repository": ["ftp://example.org/x.git"]}  # fmt: skip
        with pytest.raises(SpawnException) as refused:
            spawner.run_options_from_form(data)
        # the spawn page shows the message in words, not the exception's class
        assert format_exception(refused.value)[0].startswith("git_repository 'ftp://example.org/x.git': ")
        assert "SpawnException" not in format_exception(refused.value)[0]
        html = await spawner.get_options_form()  # JupyterHub renders the form again
        values = {a.get("name"): a.get("value") for a in parse(html).cards["jupyter-python"]["inputs"]}
        assert values["jupyter-python--cpu"] == "2"
        assert values["jupyter-python--git_repository"] == "ftp://example.org/x.git"
        assert 'id="jupyter-python--git_repository-error"' in html
        again = await spawner.get_options_form()  # a later visit: a fresh form
        assert 'class="datalab-error"' not in again


def test_the_users_projects_are_offered_as_where_to_start():
    import re

    html = form.render_form(offers_for("datalab-users"), {"project": "demo"}, projects=["demo", "x<y"])
    assert re.search(r'<select id="datalab-project" name="project"', html)
    assert re.search(r'<option value="demo" selected>project demo</option>', html)
    assert "x&lt;y" in html and "x<y" not in html
    assert 'name="project"' not in form.render_form(offers_for("datalab-users"))  # no project: no field
    refused = form.Refusal({"project": "other"}, "project", "project 'other': you are not a member of it")
    page = form.render_form(offers_for("datalab-users"), refusal=refused, projects=["demo"])
    assert 'id="datalab-project-error">project &#39;other&#39;: you are not a member' in page
    assert form.options_from_form({"service": ["jupyter-python"], "project": ["demo"]})["project"] == "demo"
