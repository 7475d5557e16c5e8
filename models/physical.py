"""``physical``: bought servers — lead time, hands-on setup by a small ops team, owned cost.

A server asked for during a run goes through: order → ``delivery`` (weeks) →
``rack`` (rack, cable, RAID) → ``network`` (rewire, VLAN) → ``os_install`` →
``accounts`` → ``firewall`` → ``config_mgmt`` (a Chef/Puppet/Ansible run,
``models.confmgmt``) → ``app_deploy`` → ready. The hands-on stages (rack to
firewall) each hold one unit of the shared pool ``ops_staff``: a small team
works on a few servers at a time, so ten servers are not set up ten times as
fast. Delivery holds nobody. Defaults come from ``../shared/CALIBRATION.md``
("Physical servers and configuration management"); each is in the catalog
``deploysim list`` shows. They model staff time only: MetalSoft reports ≈ 1–2 h
of hands-on work per server but ≈ 2 working days elapsed with hand-offs
between teams — add a stage (``stages: {handoff: {after: network, duration:
...}}``) to model the waiting.

**Cost** is ownership, not use: capex amortised straight-line over the
depreciation period, plus power (W × PUE × $/kWh) and colocation, per month
(730 h), as the cluster's cost rate in USD/s. A server costs from its
delivery (when the asset is placed in service; an order cancelled before
delivery costs nothing) — or from the order if the ``delivery`` stage is
removed. Servers present at t = 0 cost from t = 0. A server never stops
costing once delivered: scaling in drains it, but it stays owned and idle, and
the next scale-out reuses idle servers first (they are racked and installed:
they re-run only ``config_mgmt`` and ``app_deploy``) before ordering new ones.

**One version per host** (``config_mgmt: {versions: 2, one_version_per_host:
true}``): each serving instance needs one server per version — twice the
servers, cost and staff work — or, with ``on_conflict: fail``, the second
version's deploy fails on every server (``cm_version_conflicts``). Extra
servers appear in ``provisioning.csv`` as ``<instance>/v2``; the balancer sees
one serving instance per group (each version serves its own share).

Counters in ``summary.csv``: ``physical_servers_ordered``,
``physical_servers_reused``, ``cm_version_conflicts``, ``cm_reruns``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import simpy
from pydantic import Field, model_validator

from models.confmgmt import CM_STAGE, ConfigMgmt, Reruns, count
from simulator.base import Config, field_error
from simulator.distributions import Distribution, Uniform
from simulator.pipeline import Stage, StageSpec, fixed_duration, resolve_stages, run_stages
from simulator.platform import ProvisioningSpan, RunContext
from simulator.provisioned import ProvisionedConfig, ProvisionedPlatform
from simulator.registry import PLATFORMS, cite
from simulator.serving import Instance, State
from simulator.units import HOURS_PER_MONTH, Money, Price

__all__ = [
    "ServerSpec",
    "PhysicalConfig",
    "PhysicalPlatform",
    "physical_stages",
    "STAFF_STAGES",
    "DELIVERY",
]

SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0
WEEK_S = 7 * 86400.0
MIN_S = 60.0
DELIVERY = "delivery"

_METALSOFT = "MetalSoft blog, manual setup once racked (CALIBRATION.md)"
_PROCUREMENT = "DevOps 2.3 Toolkit: order to delivery, planning value 4–12 weeks (CALIBRATION.md)"

LEAD_LOW_S = cite("physical", "lead time low", 4 * WEEK_S, "4 weeks", _PROCUREMENT, "S")
LEAD_HIGH_S = cite(
    "physical",
    "lead time high",
    12 * WEEK_S,
    "12 weeks (uniform 4–12 weeks)",
    f"{_PROCUREMENT}; the uniform shape is a placeholder",
    "U",
)
RACK_S = cite(
    "physical",
    "rack, cable, RAID",
    (30 * MIN_S, 60 * MIN_S),
    "uniform 30–60 min",
    f"placeholder for racking/cabling; RAID 10–15 min from {_METALSOFT}",
    "U",
)
NETWORK_S = cite(
    "physical",
    "network (rewire + VLAN)",
    (20 * MIN_S, 60 * MIN_S),
    "uniform 20–60 min (10–30 + 10–30)",
    _METALSOFT,
    "S",
)
OS_INSTALL_S = cite(
    "physical", "OS install", (10 * MIN_S, 15 * MIN_S), "uniform 10–15 min", _METALSOFT, "S"
)
ACCOUNTS_S = cite(
    "physical", "accounts", 15 * MIN_S, "15 min", "placeholder (users, keys, sudo)", "U"
)
FIREWALL_S = cite("physical", "firewall", 15 * MIN_S, "15 min", _METALSOFT, "S")
APP_DEPLOY_S = cite(
    "physical", "app deploy", 5 * MIN_S, "5 min", "placeholder: copy release, start", "U"
)
OPS_STAFF = cite(
    "physical",
    "ops staff pool",
    3,
    "3 people",
    f"{_METALSOFT}: the setup is spread over 3 people (here a pool of generalists)",
    "S",
)
SERVER_PRICE_USD = cite(
    "physical",
    "server price",
    8000.0,
    "$8,000",
    "placeholder for a 2-socket 1U server (not in CALIBRATION.md)",
    "U",
)
DEPRECIATION_MONTHS = cite(
    "physical",
    "depreciation period",
    36.0,
    "36 months",
    "company filings summaries: 3–5 years enterprise (CALIBRATION.md); shortest",
    "S",
)
POWER_W = cite("physical", "power per server", 365.0, "365 W", "LBNL 2016, 2-socket average", "U")
PUE = cite("physical", "PUE", 1.5, "1.5", "LBNL 2016: PUE ≈ 1.5–2", "U")
USD_PER_KWH = cite("physical", "electricity", 0.10, "$0.10/kWh", "placeholder", "U")
COLO_USD_MONTH = cite(
    "physical", "colocation per server", 100.0, "$100/month", "placeholder (space, cooling)", "U"
)

REPAIR_S = cite(
    "physical",
    "hardware repair",
    4 * 3600.0,
    "4 h",
    "placeholder: a vendor's 4-hour on-site response (e.g. Dell ProSupport Mission "
    "Critical); next business day is common on cheaper contracts",
    "U",
)
REPAIR_STAGE = StageSpec(name="repair", duration=fixed_duration(REPAIR_S), holds={"ops_staff": 1})
"""A broken server's repair ticket: one of the ops staff until the part is replaced."""

# The hands-on stages: each holds one of the ops staff while it runs.
STAFF_STAGES = ("rack", "network", "os_install", "accounts", "firewall")


def _uniform(bounds: tuple[float, float]) -> Uniform:
    return Uniform(kind="uniform", low=bounds[0], high=bounds[1])


def physical_stages(lead_time: Distribution | None, cm: ConfigMgmt) -> list[StageSpec]:
    """The default pipeline of one server: delivery, hands-on setup, CM run, app deploy."""
    staff = {"ops_staff": 1}
    return [
        StageSpec(
            name=DELIVERY,
            duration=lead_time or _uniform((LEAD_LOW_S, LEAD_HIGH_S)),
            source=_PROCUREMENT,
        ),
        StageSpec(name="rack", duration=_uniform(RACK_S), holds=staff),
        StageSpec(name="network", duration=_uniform(NETWORK_S), holds=staff, source=_METALSOFT),
        StageSpec(
            name="os_install", duration=_uniform(OS_INSTALL_S), holds=staff, source=_METALSOFT
        ),
        StageSpec(name="accounts", duration=fixed_duration(ACCOUNTS_S), holds=staff),
        StageSpec(
            name="firewall", duration=fixed_duration(FIREWALL_S), holds=staff, source=_METALSOFT
        ),
        cm.stage(),
        StageSpec(name="app_deploy", duration=fixed_duration(APP_DEPLOY_S)),
    ]


class ServerSpec(Config):
    """What owning one server costs per month. (Its serving capacity is ``serving.workers``.)"""

    price: Money = Field(default=SERVER_PRICE_USD, description="purchase price (capex)")
    depreciation_months: float = Field(
        default=DEPRECIATION_MONTHS, gt=0, description="straight-line amortisation period"
    )
    power_w: float = Field(default=POWER_W, ge=0, description="average draw in watts")
    pue: float = Field(default=PUE, ge=1, description="facility power / IT power")
    usd_per_kwh: float = Field(default=USD_PER_KWH, ge=0)
    colo: Price = Field(
        default=COLO_USD_MONTH / SECONDS_PER_MONTH, description="colocation, e.g. '$100/month'"
    )

    @property
    def monthly_usd(self) -> float:
        """Amortised capex + power + colocation per month (730 h)."""
        capex = self.price / self.depreciation_months
        power = self.power_w / 1000.0 * self.pue * HOURS_PER_MONTH * self.usd_per_kwh
        return capex + power + self.colo * SECONDS_PER_MONTH

    @property
    def cost_rate(self) -> float:
        """USD per second of ownership."""
        return self.monthly_usd / SECONDS_PER_MONTH


class PhysicalConfig(ProvisionedConfig):
    """Bought servers: a lead time, staff-limited setup, a CM run, cost while owned."""

    kind: Literal["physical"]
    lead_time: Distribution | None = Field(
        default=None,
        description="order to delivery (default uniform 4–12 weeks); stages.delivery overrides",
    )
    server: ServerSpec = ServerSpec()
    config_mgmt: ConfigMgmt = ConfigMgmt()

    DEFAULT_RESOURCES: ClassVar[dict[str, int | float]] = {"ops_staff": OPS_STAFF}

    def default_stages(self) -> list[StageSpec]:
        return physical_stages(self.lead_time, self.config_mgmt)

    def resource_spec(self) -> dict[str, int | float]:
        spec = super().resource_spec()
        for name, units in self.config_mgmt.pools().items():
            spec.setdefault(name, units)
        return spec

    @model_validator(mode="after")
    def _resources_used(self) -> PhysicalConfig:
        # A pool no stage holds is almost always a typo (ops_staf: 5) that would be ignored.
        used: set[str] = set()
        for stage in self.resolved_stages():
            used.update(name for name, _ in stage.holds)
            if stage.rate_limit:
                used.add(stage.rate_limit)
        for name in self.resources or {}:
            if name not in used:
                raise field_error(
                    f"resources.{name}",
                    f"no stage holds it (held: {', '.join(sorted(used)) or 'none'})",
                    (self.resources or {})[name],
                )
        return self


@dataclass
class _Server:
    """One owned (or ordered) server and how far its setup got."""

    name: str
    next_stage: int = 0
    billed: bool = False
    cm_run: tuple[float, float] | None = None  # the last CM run: (start, end)


def _serves(inst: Instance) -> Callable[[], bool]:
    return lambda: inst.state is State.READY


class PhysicalPlatform(ProvisionedPlatform):
    """Servers are ordered, delivered, set up by staff, configured; owned ones keep costing."""

    config: PhysicalConfig

    def __init__(self, config: PhysicalConfig, ctx: RunContext) -> None:
        super().__init__(config, ctx)
        cm = config.config_mgmt
        self.rate = config.server.cost_rate
        self.per_instance = cm.hosts_per_instance
        self.conflicts_per_host = cm.conflicts_per_host
        names = [s.name for s in self.stages]
        self.delivery_at = names.index(DELIVERY) if DELIVERY in names else -1
        # An idle owned server is racked and installed: it only re-runs CM and the deploy.
        self.reactivate_at = names.index(CM_STAGE) if CM_STAGE in names else len(names) - 1
        self.reactivate_at = max(0, self.reactivate_at)
        self.idle: list[_Server] = []
        self.repair_stages = resolve_stages(
            [REPAIR_STAGE], None, resources=config.resource_spec(), links=config.LINKS
        )
        self.reruns: Reruns | None = None
        if cm.rerun:
            cm_dur = next((s.duration for s in self.stages if s.name == CM_STAGE), None)
            self.reruns = Reruns(ctx, cm, cm_dur or cm.stage().duration, self.rng)
        for name in (
            "physical_servers_ordered",
            "physical_servers_reused",
            "cm_version_conflicts",
        ):
            count(ctx, name, 0)

    # -- instances and their servers ---------------------------------------------------------

    def launch_kwargs(self) -> dict[str, Any]:
        # Billing starts per server at delivery (see _bill), not at the order.
        return {"price": 0.0}

    def start(self) -> None:
        cluster = self.ctx.cluster
        done = len(self.stages)
        for _ in range(self.config.initial):
            inst = cluster.launch(price=self.rate * self.per_instance)
            inst.tags["servers"] = [
                _Server(name, next_stage=done, billed=True) for name in self._names(inst)
            ]
            cluster.mark_ready(inst)
            self._serving(inst)

    def _names(self, inst: Instance) -> list[str]:
        return [inst.name] + [f"{inst.name}/v{v}" for v in range(2, self.per_instance + 1)]

    def launch_new(self) -> Instance | None:
        inst = super().launch_new()  # the process starts after this returns
        if inst is None:
            return None
        reused = [self.idle.pop() for _ in range(min(self.per_instance, len(self.idle)))]
        for server in reused:
            server.next_stage = min(server.next_stage, self.reactivate_at)
            # Already costing since it went idle: carry the rate, do not add it again.
            inst.price += self.rate
        fresh = [_Server(name) for name in self._names(inst)[len(reused) :]]
        inst.tags["servers"] = reused + fresh
        count(self.ctx, "physical_servers_reused", len(reused))
        count(self.ctx, "physical_servers_ordered", len(fresh))
        return inst

    def provision(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        servers: list[_Server] = inst.tags["servers"]
        procs = [self.env.process(self._set_up(inst, s)) for s in servers]
        try:
            yield self.env.all_of(procs)
        except simpy.Interrupt:
            for proc in procs:
                if proc.is_alive:
                    proc.interrupt("scale-in")
            return
        finally:
            self._procs.pop(inst.id, None)
        self.pending.remove(inst)
        self.ctx.cluster.mark_ready(inst)
        self._serving(inst)
        self._note_ready()

    def _set_up(self, inst: Instance, server: _Server) -> Generator[simpy.Event, Any, None]:
        """Run the remaining stages of one server, one at a time (progress survives scale-in)."""
        spans = self.ctx.cluster.spans
        try:
            if not server.billed and self.delivery_at < 0:
                self._bill(inst, server)
            for i in range(server.next_stage, len(self.stages)):
                stage = self.stages[i]
                yield from self._run([stage], server.name)
                server.next_stage = i + 1
                if i == self.delivery_at and not server.billed:
                    self._bill(inst, server)
                if stage.name == CM_STAGE:
                    server.cm_run = (spans[-1].start_s, spans[-1].end_s)
        except simpy.Interrupt:
            return

    def _run(self, stages: list[Stage], name: str) -> Generator[simpy.Event, Any, None]:
        yield from run_stages(
            self.env, stages, self.resources, self.rng, self.network, name, self.ctx.cluster.spans
        )

    def _bill(self, inst: Instance, server: _Server) -> None:
        """The server is delivered: it is owned and costs from now on."""
        if inst.state is State.GONE:
            return  # cancelled in the same instant: never taken in
        server.billed = True
        inst.price += self.rate
        self.ctx.cluster.cost_rate.add(self.env.now, self.rate)

    def _serving(self, inst: Instance) -> None:
        """The instance's servers serve: count version conflicts, start CM re-runs."""
        servers: list[_Server] = inst.tags["servers"]
        if self.conflicts_per_host:
            count(self.ctx, "cm_version_conflicts", self.conflicts_per_host * len(servers))
        if self.reruns is not None:
            for server in servers:
                start, end = server.cm_run or (self.env.now, self.env.now)
                self.reruns.start(server.name, _serves(inst), start, end)

    def on_retire(self, inst: Instance) -> None:
        """Owned servers stay owned: keep their cost flowing and keep them for reuse."""
        if inst.price:
            self.ctx.cluster.cost_rate.add(self.env.now, inst.price)
        for server in inst.tags.get("servers", []):
            if server.billed:
                self.idle.append(server)

    # -- faults -----------------------------------------------------------------------------

    def crash(self, inst: Instance, until: float | None = None) -> None:
        """A server fault: a repair ticket (one of the ops staff for ``REPAIR_S``), then the
        server is configured and deployed again. With ``until`` (its power or network
        is out) nothing is broken: it waits until then and redeploys."""
        servers: list[_Server] = inst.tags.get("servers", [])
        self.ctx.cluster.fail(inst)  # its servers go idle, still owned
        self.idle = [s for s in self.idle if s not in servers]
        new = self.ctx.cluster.launch(price=0.0, name=inst.name)
        for server in servers:
            server.next_stage = min(server.next_stage, self.reactivate_at)
            if server.billed:
                new.price += self.rate  # already costing: carry the rate, do not add it again
        new.tags["servers"] = servers
        self.pending.append(new)
        self._procs[new.id] = self.env.process(self._repair(new, until))

    def _repair(self, inst: Instance, until: float | None) -> Generator[simpy.Event, Any, None]:
        try:
            if until is not None:
                start = self.env.now
                yield self.env.timeout(max(0.0, until - start))
                self.ctx.cluster.spans.append(
                    ProvisioningSpan(inst.name, "host_down", start, self.env.now)
                )
            else:
                yield from self._run(self.repair_stages, inst.name)
        except simpy.Interrupt:
            self._procs.pop(inst.id, None)
            return
        yield from self.provision(inst)


@PLATFORMS.register(
    "physical",
    PhysicalConfig,
    "bought servers: lead time, staff-limited rack/network/OS/accounts/firewall, CM run; "
    "owned cost (amortised capex + power + colo)",
    "CALIBRATION.md: DevOps 2.3 Toolkit, MetalSoft, LBNL 2016, Puppet/Chef docs",
)
def build_physical(config: PhysicalConfig, ctx: RunContext) -> PhysicalPlatform:
    return PhysicalPlatform(config, ctx)
