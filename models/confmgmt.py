"""Configuration management (Chef, Puppet, Ansible) as a stage any server pipeline can use.

Not a platform: a building block. ``physical`` (and ``vm``) put a
``config_mgmt`` stage in their pipeline with :func:`cm_stage`, and embed a
:class:`ConfigMgmt` block in their config for the three behaviours below.

**A run** converges N managed resources (packages, files, services): its
duration is a fixed overhead (facts, catalog compile / cookbook sync) plus N
times a per-resource time. Puppet's numbers come from a measured run of 331
resources: facts 7 s + catalog 9 s + apply 9 s, ≈ 39 s in total
(puppetlabs/puppet PR 6677): apply ≈ 9/331 s per resource, overhead 39 − 9 =
30 s. Chef and Ansible reuse them as placeholders [U]. Ansible pushes from a
control node that talks to at most ``forks`` hosts at a time (default 5, Ansible
docs "Controlling playbook execution"): its stage holds one unit of the pool
``ansible_forks``.

**Periodic re-runs** (``rerun: true``): an agent re-applies the configuration
on every ready host.

* Puppet: every ``runinterval`` (30 min), measured start to start
  (``Puppet::Scheduler::Job#ready?``: ``last_run + run_interval <= time``, with
  ``last_run`` set when a run starts); ``splay`` is off by default and, when on,
  delays only the first run by ``rand(splaylimit + 1)``
  (``Puppet::Scheduler::SplayJob``).
* Chef: the daemon sleeps ``interval + rand(splay)`` after each run ends
  (``Chef::Application::Client#time_to_sleep``); 30 min and 5 min splay are the
  defaults of ``chef_client_systemd_timer`` (docs.chef.io).
* Ansible: push only, no cadence; a re-run needs an explicit ``interval``
  (e.g. a cron or AWX schedule).

Each re-run is a span ``config_mgmt_rerun`` in ``provisioning.csv`` (capped by
``max_rerun_spans`` per run so long horizons stay small); splay draws come from
the ``provisioning`` random stream. Re-runs do not consume serving capacity.

**One version per host**: a host's package manager installs one version of a
package name (dpkg/rpm), and Puppet refuses two declarations of one package
("Duplicate declaration: Package[...] is already declared; cannot redeclare",
and the whole catalog fails). Running ``versions: 2`` of the service with
``one_version_per_host: true`` therefore either needs a second host per
serving instance (``on_conflict: extra_host``: twice the servers, twice the
cost and staff work) or the second deploy fails on every host
(``on_conflict: fail``: counted in ``cm_version_conflicts``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import simpy
from pydantic import Field, model_validator

from simulator.base import Config
from simulator.distributions import Distribution
from simulator.pipeline import StageSpec, fixed_duration
from simulator.platform import ProvisioningSpan, RunContext
from simulator.registry import cite
from simulator.units import Duration

__all__ = [
    "CM_STAGE",
    "RERUN_STAGE",
    "Preset",
    "PRESETS",
    "Tool",
    "cm_stage",
    "ConfigMgmt",
    "Reruns",
    "count",
]

CM_STAGE = "config_mgmt"
RERUN_STAGE = "config_mgmt_rerun"

Tool = Literal["puppet", "chef", "ansible"]

_PR6677 = "puppetlabs/puppet PR 6677: 331 resources, facts 7 s + catalog 9 s + apply 9 s ≈ 39 s"
_PUPPET_DOCS = "Puppet docs 'Run Puppet agent as a service' (runinterval 30m); lib/puppet/scheduler"
_CHEF_DOCS = (
    "docs.chef.io chef_client_systemd_timer (interval 30min, splay 5min); "
    "Chef::Application::Client#time_to_sleep (interval + rand(splay) after each run)"
)
_ANSIBLE_DOCS = "Ansible docs 'Controlling playbook execution' (5 forks by default; push, no agent)"

RESOURCES_N = cite("confmgmt", "managed resources per run", 331, "331", _PR6677)
PUPPET_PER_RESOURCE_S = cite(
    "confmgmt", "puppet apply per resource", 9.0 / 331, "9 s / 331 ≈ 27 ms", _PR6677
)
PUPPET_OVERHEAD_S = cite(
    "confmgmt", "puppet run overhead (facts, catalog, report)", 30.0, "30 s (39 − 9)", _PR6677
)
PUPPET_INTERVAL_S = cite("confmgmt", "puppet runinterval", 1800.0, "30 min", _PUPPET_DOCS)
PUPPET_SPLAY_S = cite(
    "confmgmt",
    "puppet splay",
    0.0,
    "off; when on, once before the first run: rand(splaylimit + 1)",
    "Puppet configuration reference (splay = false); Puppet::Scheduler::SplayJob",
)
CHEF_PER_RESOURCE_S = cite(
    "confmgmt",
    "chef converge per resource",
    9.0 / 331,
    "≈ 27 ms",
    "placeholder: Puppet's apply rate (PR 6677)",
    "U",
)
CHEF_OVERHEAD_S = cite(
    "confmgmt",
    "chef run overhead (ohai, cookbook sync, compile)",
    30.0,
    "30 s",
    "placeholder: Puppet's overhead (PR 6677)",
    "U",
)
CHEF_INTERVAL_S = cite("confmgmt", "chef-client interval", 1800.0, "1800 s", _CHEF_DOCS)
CHEF_SPLAY_S = cite("confmgmt", "chef-client splay", 300.0, "5 min", _CHEF_DOCS)
ANSIBLE_PER_TASK_S = cite(
    "confmgmt",
    "ansible time per task per host",
    0.5,
    "0.5 s",
    "placeholder: one SSH round trip + module run per task",
    "U",
)
ANSIBLE_OVERHEAD_S = cite(
    "confmgmt", "ansible fact gathering", 5.0, "5 s", "placeholder for gather_facts", "U"
)
ANSIBLE_FORKS = cite("confmgmt", "ansible forks", 5, "5 hosts at a time", _ANSIBLE_DOCS)


@dataclass(frozen=True)
class Preset:
    """How one tool runs: per-resource time, overhead, and its re-run cadence.

    ``interval_from``: ``"start"`` (Puppet: start to start) or ``"end"`` (Chef:
    sleep after the run). ``splay_each_run``: Chef draws a splay before every
    run, Puppet once before the first. ``pools``: shared limits the stage holds
    one unit of (Ansible's forks).
    """

    tool: str
    per_resource_s: float
    overhead_s: float
    interval_s: float | None
    splay_s: float
    splay_each_run: bool
    interval_from: Literal["start", "end"]
    pools: dict[str, int] = field(default_factory=dict)
    source: str = ""


PRESETS: dict[str, Preset] = {
    "puppet": Preset(
        "puppet",
        PUPPET_PER_RESOURCE_S,
        PUPPET_OVERHEAD_S,
        PUPPET_INTERVAL_S,
        PUPPET_SPLAY_S,
        False,
        "start",
        source=f"{_PR6677}; {_PUPPET_DOCS}",
    ),
    "chef": Preset(
        "chef",
        CHEF_PER_RESOURCE_S,
        CHEF_OVERHEAD_S,
        CHEF_INTERVAL_S,
        CHEF_SPLAY_S,
        True,
        "end",
        source=_CHEF_DOCS,
    ),
    "ansible": Preset(
        "ansible",
        ANSIBLE_PER_TASK_S,
        ANSIBLE_OVERHEAD_S,
        None,
        0.0,
        True,
        "end",
        pools={"ansible_forks": ANSIBLE_FORKS},
        source=_ANSIBLE_DOCS,
    ),
}


def cm_stage(
    tool: str = "puppet",
    resources: int | None = None,
    *,
    per_resource: float | None = None,
    overhead: float | None = None,
    name: str = CM_STAGE,
) -> StageSpec:
    """The stage of one configuration-management run of ``resources`` managed resources.

    Duration = overhead + resources × per-resource time (fixed), the preset's
    values unless given. Ansible's stage holds one of the control node's forks.
    """
    preset = PRESETS[tool]
    n = RESOURCES_N if resources is None else resources
    per = preset.per_resource_s if per_resource is None else per_resource
    over = preset.overhead_s if overhead is None else overhead
    return StageSpec(
        name=name,
        duration=fixed_duration(over + n * per),
        holds={pool: 1 for pool in preset.pools},
        source=preset.source,
    )


class ConfigMgmt(Config):
    """The ``config_mgmt`` block of a server-based platform."""

    tool: Tool = Field(default="puppet", description="preset: puppet, chef or ansible")
    managed_resources: int = Field(
        default=RESOURCES_N, ge=0, description="packages/files/services converged per run"
    )
    per_resource: Duration | None = Field(
        default=None, description="time per managed resource (default: the tool's preset)"
    )
    overhead: Duration | None = Field(
        default=None, description="fixed time per run: facts, catalog/cookbooks (preset)"
    )
    rerun: bool = Field(default=False, description="re-run on every ready host periodically")
    interval: Duration | None = Field(
        default=None, gt=0, description="re-run cadence (Puppet/Chef: 30 min; Ansible: none)"
    )
    splay: Duration | None = Field(
        default=None, description="random extra delay, uniform in [0, splay] (Chef: 5 min)"
    )
    max_rerun_spans: int = Field(
        default=1000, ge=0, description="re-runs recorded per run, then re-runs stop"
    )
    versions: int = Field(default=1, ge=1, description="versions of the service run side by side")
    one_version_per_host: bool = Field(
        default=True, description="a host holds one version of a package (dpkg/rpm, Puppet)"
    )
    on_conflict: Literal["extra_host", "fail"] = Field(
        default="extra_host",
        description="a second version needs another host, or its deploy fails",
    )

    @model_validator(mode="after")
    def _cadence(self) -> ConfigMgmt:
        if self.rerun and self.interval_s is None:
            raise ValueError(
                f"config_mgmt.interval: {self.tool} pushes on demand and has no re-run "
                "cadence; give an interval (e.g. a cron or AWX schedule) or rerun: false"
            )
        return self

    @property
    def preset(self) -> Preset:
        return PRESETS[self.tool]

    @property
    def interval_s(self) -> float | None:
        return self.interval if self.interval is not None else self.preset.interval_s

    @property
    def splay_s(self) -> float:
        return self.splay if self.splay is not None else self.preset.splay_s

    def stage(self) -> StageSpec:
        """The ``config_mgmt`` stage for this block's tool and resource count."""
        return cm_stage(
            self.tool,
            self.managed_resources,
            per_resource=self.per_resource,
            overhead=self.overhead,
        )

    def pools(self) -> dict[str, int]:
        """Shared limits the stage needs (added to the platform's resources)."""
        return dict(self.preset.pools)

    @property
    def hosts_per_instance(self) -> int:
        """Hosts one serving instance needs: one per version if versions cannot share a host."""
        if self.one_version_per_host and self.on_conflict == "extra_host":
            return self.versions
        return 1

    @property
    def conflicts_per_host(self) -> int:
        """Deploys that fail on each host: every version after the first, if they cannot share."""
        if self.one_version_per_host and self.on_conflict == "fail":
            return self.versions - 1
        return 0


def count(ctx: RunContext, name: str, n: int = 1) -> None:
    """Add ``n`` to a counter that becomes a ``summary.csv`` column."""
    counters: dict[str, Any] = ctx.extras.setdefault("counters", {})
    counters[name] = counters.get(name, 0) + n


class Reruns:
    """Periodic configuration-management runs on ready hosts (one SimPy process per host).

    ``duration`` is the run's distribution (the pipeline's ``config_mgmt``
    stage, so a stage override applies to re-runs too). Spans go to
    ``spans`` until ``max_rerun_spans`` are recorded; then every loop stops.
    """

    def __init__(
        self,
        ctx: RunContext,
        cm: ConfigMgmt,
        duration: Distribution,
        rng: np.random.Generator,
    ) -> None:
        interval = cm.interval_s
        assert interval is not None  # ConfigMgmt validation guarantees it when rerun is on
        self.ctx = ctx
        self.env: simpy.Environment = ctx.env
        self.interval = interval
        self.splay = cm.splay_s
        self.each_run = cm.preset.splay_each_run
        self.from_start = cm.preset.interval_from == "start"
        self.cap = cm.max_rerun_spans
        self.duration = duration
        self.rng = rng
        self.spans: list[ProvisioningSpan] = ctx.cluster.spans
        self.recorded = 0
        count(ctx, "cm_reruns", 0)

    def start(
        self, host: str, alive: Callable[[], bool], last_start: float, last_end: float
    ) -> simpy.Process:
        """Re-run on ``host`` while ``alive()``; the last run spanned [last_start, last_end]."""
        return self.env.process(self._loop(host, alive, last_start, last_end))

    def _loop(
        self, host: str, alive: Callable[[], bool], t_start: float, t_end: float
    ) -> Generator[simpy.Event, Any, None]:
        env = self.env
        first = True
        while True:
            delay = self.interval
            if self.splay > 0 and (first or self.each_run):
                delay += float(self.rng.uniform(0.0, self.splay))
            first = False
            # A run longer than the interval is followed at once by the next (Puppet's job
            # is ready when last_run + run_interval <= now).
            at = max((t_start if self.from_start else t_end) + delay, env.now)
            yield env.timeout(at - env.now)
            if not alive() or self.recorded >= self.cap:
                return
            start = env.now
            run = float(self.duration.sample(self.rng, 1)[0])
            if run > 0:
                yield env.timeout(run)
            if not alive() or self.recorded >= self.cap:
                return
            self.recorded += 1
            count(self.ctx, "cm_reruns")
            self.spans.append(ProvisioningSpan(host, RERUN_STAGE, start, env.now, 0.0))
            t_start, t_end = start, env.now
