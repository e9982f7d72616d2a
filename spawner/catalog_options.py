"""The catalog side of a spawner, shared by every backend (CatalogSpawner on Kubernetes, LocalCatalogSpawner):
offers resolved for the user's groups now, the spawn form, and user_options validated into a LaunchPlan.

Extracted from CatalogSpawner so that the local backend reuses exactly the same form and validation.
"""

from __future__ import annotations

from datetime import UTC, datetime

from traitlets import Unicode, default
from traitlets.config import Configurable

from . import form
from .catalog import Offer, OptionsError, resolve, validate_options
from .catalog_runtime import CatalogRuntimeMixin
from .errors import SpawnException
from .plan import LaunchPlan, SessionCredentials


class CatalogOptionsMixin(CatalogRuntimeMixin, Configurable):
    """Mix into a Spawner (before it): catalog -> form, and form/REST/launch-link options -> LaunchPlan."""

    catalog_dir = Unicode(
        help="""Directory of the service catalog (services/, lists/). Default: $DATALAB_CATALOG_DIR, else
        the installed copy, else the repository's profiles/. Re-read when its files change.""",
    ).tag(config=True)

    @default("catalog_dir")
    def _default_catalog_dir(self):
        from .catalog import default_catalog_dir

        return str(default_catalog_dir())

    def now(self) -> datetime:
        """The moment offers are resolved for (a method so tests can move time)."""
        return datetime.now(UTC)

    def user_groups(self) -> list[str]:
        return sorted(getattr(g, "name", g) for g in (getattr(self.user, "groups", None) or []))

    def offers(self) -> list[Offer]:
        """What this server's user is offered now (raises a 500 SpawnException if no catalog loads)."""
        return resolve(self.current_catalog(), self.user_groups(), self.now())

    def form_template_paths(self) -> list[str]:
        """Operator template directories searched before ours (KubeSpawner's setting on Kubernetes)."""
        return list(getattr(self, "additional_profile_form_template_paths", None) or [])

    @default("options_form")
    def _options_form_default(self):
        return self._render_catalog_form

    async def _render_catalog_form(self, spawner=None) -> str:
        offers = self.offers()
        previous = None
        if self.user_options:
            try:
                previous = self.validate(offers).user_options
            except SpawnException:
                previous = None  # stale options (catalog changed): fall back to the defaults
        env = form.make_environment(self.form_template_paths())
        return self.form_notice(offers) + form.render_form(
            self.form_offers(offers), previous, environment=env
        )

    def form_offers(self, offers: list[Offer]) -> list[Offer]:
        """The offers shown as cards (a backend hides the ones it cannot run here)."""
        return offers

    def form_notice(self, offers: list[Offer]) -> str:
        """HTML shown above the cards (a backend says what it cannot run here, and why)."""
        return ""

    @default("options_from_form")
    def _options_from_form_default(self):
        return form.options_from_form

    def validate(self, offers: list[Offer] | None = None) -> LaunchPlan:
        """user_options -> LaunchPlan, or a SpawnException the REST caller and form see (400/403)."""
        offers = self.offers() if offers is None else offers
        try:
            return validate_options(
                offers, self.user_options or {}, username=self.user.name, server_name=self.name
            )
        except OptionsError as e:
            reason = "forbidden_options" if e.status == 403 else "invalid_options"
            raise SpawnException(e.message, reason=reason, status_code=e.status) from None

    async def session_credentials(self) -> SessionCredentials:
        """Credentials for the session (S3, Vault...). Default: none; the credential broker overrides it."""
        return SessionCredentials()
