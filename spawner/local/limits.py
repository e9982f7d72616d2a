"""The chosen CPU and memory made real for a local session: its own cgroup (spawner.local.cgroups).

A mixin of LocalCatalogSpawner. As root with cgroups, each session's processes (the server, its kernels,
terminals, code-server) run in a cgroup with the plan's memory and CPU; when the kernel's OOM killer
acts in it, the session is stopped and the user is told why on the hub (the spawn page). Without root
or cgroups the form says the limits are not enforced.
"""

from __future__ import annotations

import functools
import html

from traitlets import Bool
from traitlets.config import Configurable

from ..errors import SpawnException
from ..plan import LaunchPlan
from . import cgroups


@functools.cache
def machine_support() -> cgroups.Support:
    return cgroups.detect()


def fmt_gib(value: float) -> str:
    return f"{value:g} GiB"


class LimitsMixin(Configurable):
    """A cgroup per session with the plan's limits; OOM kills stop the session, with the reason."""

    enforce_limits = Bool(
        True,
        help="""Run each session in its own cgroup with the memory and CPU chosen in the form (as root,
        with cgroup v1 or v2). False, or without root or cgroups: the limits are only announced to the
        session (CPU_LIMIT, MEM_LIMIT) and the form says they are not enforced.""",
    ).tag(config=True)

    session_cgroup: cgroups.SessionCgroup | None = None
    # Why a user's server was last stopped, by (user, server name): JupyterHub may make a new Spawner
    # object for a server that stopped, and the reason must reach the spawn page all the same.
    _stop_reasons: dict[tuple[str, str], str] = {}

    def _reason_key(self) -> tuple[str, str]:
        return (getattr(getattr(self, "user", None), "name", ""), getattr(self, "name", ""))

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reasons.get(self._reason_key())

    @stop_reason.setter
    def stop_reason(self, reason: str | None) -> None:
        if reason is None:
            self._stop_reasons.pop(self._reason_key(), None)
        else:
            self._stop_reasons[self._reason_key()] = reason

    def limits_support(self) -> cgroups.Support:
        if not self.enforce_limits:
            return cgroups.Support(None, "the operator turned enforcement off")
        return machine_support()

    def limits_notice(self) -> str:
        """HTML for the form: why the last session stopped, and whether limits are enforced here."""
        lines = []
        if self.stop_reason:
            lines.append(
                f'<div class="alert alert-danger datalab-stop-reason">{html.escape(self.stop_reason)}</div>'
            )
        support = self.limits_support()
        if support.version is None:
            text = f"CPU and memory limits are not enforced on this machine ({support.why_not})."
            lines.append(f'<div class="alert alert-warning datalab-limits">{html.escape(text)}</div>')
        return "".join(lines)

    def make_cgroup(self, plan: LaunchPlan, name: str) -> None:
        support = self.limits_support()
        self.stop_reason = None
        if support.version is None:
            return
        try:
            self.session_cgroup = cgroups.SessionCgroup.create(
                support.version, name, plan.cpu, int(plan.memory_gib * 1024**3)
            )
        except cgroups.CgroupError as e:
            raise SpawnException(f"Cannot start: {e}", reason="cgroup", status_code=500) from None
        self.report_progress(
            f"Limits enforced: {plan.cpu:g} CPU, {fmt_gib(plan.memory_gib)} memory (cgroup v{support.version})"
        )

    def joining(self, preexec):
        """The child's preexec: join the session's cgroup (as root), then become the user."""
        group = self.session_cgroup
        if group is None:
            return preexec

        def join_then(*args):
            group.join()
            if preexec is not None:
                preexec(*args)

        return join_then

    async def poll(self):
        status = await super().poll()
        group = self.session_cgroup
        if group is not None and self.stop_reason is None and group.oom_kills() > 0:
            plan = self.plan
            limit = fmt_gib(plan.memory_gib) if plan else "its"
            name = plan.service_display_name if plan else "session"
            self.stop_reason = (
                f"Your {name} session was stopped: it needed more than its memory limit of {limit}. "
                "Start it again with more memory, or load less data at once."
            )
            self.log.warning("%s was stopped by its memory limit (%s)", self._log_name, limit)
            return 137 if status is None else status  # the hub then stops what is left
        return status

    def release_cgroup(self) -> None:
        if self.session_cgroup is not None:
            self.session_cgroup.remove()
            self.session_cgroup = None

    def cgroup_state(self) -> dict:
        g = self.session_cgroup
        return {"cgroup": [g.version, list(g.dirs)]} if g else {}

    def load_cgroup_state(self, state: dict) -> None:
        if state.get("cgroup"):
            version, dirs = state["cgroup"]
            self.session_cgroup = cgroups.SessionCgroup(version, tuple(dirs))
