"""``vm``: virtual machines packed onto a pool of hypervisor hosts you own.

The on-premises virtualisation era (VMware vSphere, KVM/libvirt, OpenStack
Nova on your own racks). Defaults from ``../shared/CALIBRATION.md``
("Virtual machines and IaaS cloud", "Physical servers"); each is in the
catalog ``deploysim list`` shows.

**Placement.** Each host offers ``cores × overcommit.cpu`` schedulable vCPUs
and ``memory × overcommit.memory`` schedulable memory (Nova's
``cpu_allocation_ratio`` / ``ram_allocation_ratio``: a VM is admitted while
the sum of the flavors' vCPUs and memory stays below physical × ratio). A new
VM reserves its share on a host at launch:

* ``first_fit``: the first host (in purchase order) with room — Nova's old
  fill-first host selection;
* ``best_fit``: the host left with the least room, room counted in VMs of this
  size that would still fit (the binding resource of the two) — the
  "stacking" of Nova's weighers with a negative ``ram_weight_multiplier``.
  Ties go to the earlier host.

Hosts already in service are always preferred to hosts still being bought,
so a VM never waits weeks for a host while a running one has room.

**When no host has room**, a host is bought through a physical pipeline run
inside this module (``host_stages``: order → delivery, rack, network, OS
install, hypervisor install; staff from the ``ops_staff`` pool), recorded
with instance names ``host<N>``. The VM (and every later VM placed on that
host) waits for it (span ``wait_for_host``), then runs its own stages.
``max_hosts`` caps purchases; a VM that fits nowhere then is refused
(``vm_launches_refused``) and retried by the next scaling decision.

**A VM's own stages**: ``image_copy`` — the full template disk image
(``image_size``) crosses the ``image_store`` link, shared max-min fairly with
the other copies in flight (``simulator.network``: two copies at once each get
half) — or, with ``linked_clone: true``, a ``linked_clone`` stage (a
copy-on-write overlay on the shared base disk: no copy; VMware linked clones,
qcow2 backing files); then ``boot`` and ``configure`` (packages and the app).
With a ``config_mgmt`` block (``models.confmgmt``: Puppet, Chef or Ansible),
``configure`` becomes that tool's ``config_mgmt`` run, and with ``rerun: true``
the agent re-applies the configuration on every serving VM at the tool's cadence.

**Serving speed** is the hypervisor's overhead: CPU and memory work run at
≈ 98 % of bare metal, random-I/O-bound work at ≈ half (Felter et al., IBM
2014: KVM roughly halves random-I/O IOPS). CPU time-sharing between
overcommitted vCPUs (noisy neighbours) is not modelled.

**Cost**: every host costs its amortised monthly price from the moment it is in
service (depreciation starts when an asset is placed in service), used or not;
a VM adds only an optional per-VM ``licence``. Hosts are never sold during a run.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import simpy
from pydantic import Field, field_validator, model_validator

from models.confmgmt import CM_STAGE, ConfigMgmt, Reruns
from simulator.base import Config, located_error
from simulator.pipeline import (
    Stage,
    StageOverride,
    StageSpec,
    fixed_duration,
    resolve_stages,
    run_stages,
)
from simulator.platform import ProvisioningSpan, RunContext
from simulator.provisioned import ProvisionedConfig, ProvisionedPlatform
from simulator.registry import PLATFORMS, cite
from simulator.serving import Instance, State
from simulator.units import Bandwidth, Price, Size, parse_bandwidth, parse_price, parse_size

__all__ = [
    "HostSpec",
    "Overcommit",
    "VMSpec",
    "VMConfig",
    "Host",
    "VMPlatform",
    "choose_host",
    "vm_stages",
    "HOST_STAGES",
]

Placement = Literal["first_fit", "best_fit"]

# -- catalog --------------------------------------------------------------------------------

_KVM_BOOT = "depot.dev blog: stock Ubuntu cloud image boots in 7–9 s under local KVM"
_FELTER = (
    "Felter et al., 'An Updated Performance Comparison of Virtual Machines and Linux "
    "Containers', IBM Research 2014"
)
_METALSOFT = "MetalSoft blog: manual setup once racked (CALIBRATION.md, Physical servers)"

BOOT_S = cite("vm", "boot", 8.0, "8 s (7–9 s)", _KVM_BOOT, "V")
CLONE_S = cite(
    "vm",
    "linked clone",
    2.0,
    "2 s",
    "placeholder: creating a copy-on-write overlay (qcow2 backing file, VMware linked "
    "clone) takes seconds and copies no image data",
    "U",
)
CONFIGURE_S = cite(
    "vm",
    "configure (packages + app deploy)",
    120.0,
    "120 s",
    "placeholder for a package install and app deploy; override per service",
    "U",
)
IMAGE_SIZE = cite(
    "vm",
    "template image size",
    10e9,
    "10 GB",
    "placeholder: a template VM disk with OS and app (a stock Ubuntu cloud image is "
    "≈ 0.6 GB; provisioned template disks are typically ≥ 10 GB)",
    "U",
)
IMAGE_STORE = cite(
    "vm",
    "image store link",
    parse_bandwidth("1Gbps"),
    "1 Gbps",
    "placeholder: a 1 GbE link from the image store (NFS/Glance) to the hypervisors",
    "U",
)
CPU_SPEED = cite(
    "vm",
    "hypervisor speed factor (CPU/memory-bound)",
    0.98,
    "0.98 (overhead ≈ 1–3 %)",
    f"{_FELTER}: KVM CPU and memory overhead negligible to a few percent",
    "S",
)
IO_SPEED = cite(
    "vm",
    "hypervisor speed factor (io_heavy: random-I/O-bound)",
    0.5,
    "0.5",
    f"{_FELTER}: random-I/O IOPS ≈ half of bare metal under KVM",
    "S",
)
OVERCOMMIT_CPU = cite(
    "vm",
    "CPU overcommit (vCPU per core)",
    4.0,
    "4.0",
    "placeholder: a conservative production ratio; OpenStack Nova's default "
    "cpu_allocation_ratio is 16.0 [S]",
    "U",
)
OVERCOMMIT_MEMORY = cite(
    "vm",
    "memory overcommit",
    1.0,
    "1.0 (none)",
    "placeholder: no memory overcommit; OpenStack Nova's default ram_allocation_ratio is 1.5 [S]",
    "U",
)
HOST_CORES = cite("vm", "host cores", 32, "32", "placeholder: a 2-socket 16-core server", "U")
HOST_MEMORY = cite(
    "vm", "host memory", parse_size("256GiB"), "256 GiB", "placeholder: a 2-socket server", "U"
)
HOST_PRICE = cite(
    "vm",
    "host cost (amortised)",
    parse_price("$300/month"),
    "$300/month",
    "placeholder: ≈ $10,000 server over 4 years (depreciation 3–5 years [S]) ≈ $210/month "
    "plus power (≈ 365 W × PUE 1.5, LBNL 2016 [U]) and a colocation share",
    "U",
)
HOSTS = cite("vm", "hypervisor hosts at start", 2, "2", "placeholder", "U")
VM_VCPUS = cite("vm", "VM vCPUs", 2, "2", "placeholder: a c5.large-sized VM", "U")
VM_MEMORY = cite("vm", "VM memory", parse_size("4GiB"), "4 GiB", "placeholder: c5.large-sized", "U")
OPS_STAFF = cite("vm", "ops staff (host pipeline)", 2, "2 people", "placeholder", "U")

ORDER_S = cite(
    "vm",
    "host order → delivery",
    8 * 7 * 86400.0,
    "8 weeks",
    "planning value 4–12 weeks, midpoint (DevOps 2.3 Toolkit; CALIBRATION.md)",
    "S",
)
RACK_S = cite("vm", "host rack and cable", 20 * 60.0, "20 min (rewire 10–30 min)", _METALSOFT, "S")
NETWORK_S = cite(
    "vm", "host network", 35 * 60.0, "35 min (VLAN 10–30 + firewall 15 min)", _METALSOFT, "S"
)
OS_INSTALL_S = cite(
    "vm", "host OS install", 25 * 60.0, "25 min (RAID 10–15 + OS 10–15 min)", _METALSOFT, "S"
)
HYPERVISOR_INSTALL_S = cite(
    "vm",
    "hypervisor install",
    30 * 60.0,
    "30 min",
    "placeholder: install KVM/libvirt (or ESXi) and join the host to the manager",
    "U",
)

HOST_STAGES: list[StageSpec] = [
    StageSpec(name="order", duration=fixed_duration(ORDER_S), source="procurement lead time"),
    StageSpec(name="rack", duration=fixed_duration(RACK_S), holds={"ops_staff": 1}),
    StageSpec(name="network", duration=fixed_duration(NETWORK_S), holds={"ops_staff": 1}),
    StageSpec(name="os_install", duration=fixed_duration(OS_INSTALL_S), holds={"ops_staff": 1}),
    StageSpec(
        name="hypervisor_install",
        duration=fixed_duration(HYPERVISOR_INSTALL_S),
        holds={"ops_staff": 1},
    ),
]
"""The pipeline of a host bought during a run (a physical server's, ending in a hypervisor)."""


def vm_stages(
    linked_clone: bool, image_size: float, config_mgmt: ConfigMgmt | None = None
) -> list[StageSpec]:
    """A VM's own stages: a full image copy over ``image_store`` (or a linked clone), boot,
    then ``configure`` — or, given a ``config_mgmt`` block, its Chef/Puppet/Ansible run."""
    first = (
        StageSpec(name="linked_clone", duration=fixed_duration(CLONE_S))
        if linked_clone
        else StageSpec(
            name="image_copy",
            duration=fixed_duration(0.0),
            transfer=image_size,
            links=("image_store",),
        )
    )
    return [
        first,
        StageSpec(name="boot", duration=fixed_duration(BOOT_S)),
        config_mgmt.stage()
        if config_mgmt is not None
        else StageSpec(name="configure", duration=fixed_duration(CONFIGURE_S)),
    ]


# -- config ---------------------------------------------------------------------------------


class HostSpec(Config):
    """One hypervisor host: physical cores, memory and amortised price."""

    cores: int = Field(default=HOST_CORES, ge=1)
    memory: Size = Field(default=HOST_MEMORY, description="physical memory, e.g. '256GiB'")
    price: Price = Field(
        default=HOST_PRICE, description="amortised cost per host, e.g. '$300/month'"
    )

    @field_validator("memory")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v


class Overcommit(Config):
    """Schedulable / physical ratios (Nova ``cpu_allocation_ratio``, ``ram_allocation_ratio``)."""

    cpu: float = Field(default=OVERCOMMIT_CPU, gt=0, description="vCPUs per physical core")
    memory: float = Field(default=OVERCOMMIT_MEMORY, gt=0, description="VM memory per host byte")


class VMSpec(Config):
    """The flavor every VM of the scenario gets."""

    vcpus: int = Field(default=VM_VCPUS, ge=1)
    memory: Size = Field(default=VM_MEMORY, description="e.g. '4GiB'")
    licence: Price = Field(default=0.0, description="per-VM licence, e.g. '$20/month'")

    @field_validator("memory")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v


class VMConfig(ProvisionedConfig):
    """VMs on a pool of owned hypervisor hosts; a full host buys a new one."""

    kind: Literal["vm"]
    hosts: int = Field(default=HOSTS, ge=0, description="hypervisor hosts in service at t = 0")
    max_hosts: int | None = Field(
        default=None, ge=1, description="cap on hosts, bought ones included; absent = no cap"
    )
    host: HostSpec = Field(default_factory=HostSpec)
    overcommit: Overcommit = Field(default_factory=Overcommit)
    flavor: VMSpec = Field(default_factory=VMSpec, description="size of every VM (Nova's flavor)")
    placement: Placement = Field(default="first_fit", description="first_fit or best_fit")
    image_size: Size = Field(default=IMAGE_SIZE, description="template disk copied per VM")
    image_store: Bandwidth = Field(
        default=IMAGE_STORE, description="bandwidth of the image-store link, shared by copies"
    )
    linked_clone: bool = Field(default=False, description="copy-on-write clone: no image copy")
    io_heavy: bool = Field(
        default=False, description="random-I/O-bound service: hypervisor speed 0.5 instead of 0.98"
    )
    hypervisor_speed: float | None = Field(
        default=None, gt=0, description="override the hypervisor speed factor"
    )
    config_mgmt: ConfigMgmt | None = Field(
        default=None,
        description="configure each VM by a Chef/Puppet/Ansible run (stage config_mgmt, "
        "optional periodic re-runs) instead of the plain configure stage",
    )
    host_stages: dict[str, StageOverride | None] | None = Field(
        default=None,
        description="change a host-pipeline stage by name, remove it with null, add one with "
        "'after: <stage>'",
    )

    DEFAULT_RESOURCES: ClassVar[dict[str, int | float]] = {"ops_staff": OPS_STAFF}
    LINKS: ClassVar[set[str] | None] = {"image_store"}

    @field_validator("image_store")
    @classmethod
    def _positive_bandwidth(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v

    def default_stages(self) -> list[StageSpec]:
        return vm_stages(self.linked_clone, self.image_size, self.config_mgmt)

    def resource_spec(self) -> dict[str, int | float]:
        spec = super().resource_spec()
        if self.config_mgmt is not None:
            for name, units in self.config_mgmt.pools().items():
                spec.setdefault(name, units)  # Ansible's forks
        return spec

    def resolved_host_stages(self) -> list[Stage]:
        """The host pipeline with the scenario's ``host_stages`` overrides applied."""
        try:
            return resolve_stages(
                HOST_STAGES, self.host_stages, resources=self.resource_spec(), links=self.LINKS
            )
        except ValueError as exc:
            msg = str(exc)
            raise ValueError(f"host_{msg}" if msg.startswith("stages.") else msg) from None

    @property
    def host_vcpus(self) -> float:
        """Schedulable vCPUs per host."""
        return self.host.cores * self.overcommit.cpu

    @property
    def host_memory(self) -> float:
        """Schedulable memory per host (bytes)."""
        return self.host.memory * self.overcommit.memory

    @property
    def speed_factor(self) -> float:
        """Hypervisor overhead as a service speed factor."""
        if self.hypervisor_speed is not None:
            return self.hypervisor_speed
        return IO_SPEED if self.io_heavy else CPU_SPEED

    def vms_per_host(self) -> int:
        """How many VMs of the flavor fit on an empty host."""
        return Host("", self.host_vcpus, self.host_memory).room(
            self.flavor.vcpus, self.flavor.memory
        )

    @model_validator(mode="after")
    def _fits(self) -> VMConfig:
        try:
            self._check_fits()
        except ValueError as exc:  # "field: message" -> an error at that field
            raise located_error(exc) from None
        return self

    def _check_fits(self) -> None:
        if self.flavor.vcpus > self.host_vcpus:
            raise ValueError(
                f"flavor.vcpus: {self.flavor.vcpus} vCPUs do not fit on a host "
                f"({self.host_vcpus:g} schedulable = host.cores {self.host.cores} × "
                f"overcommit.cpu {self.overcommit.cpu:g})"
            )
        if self.flavor.memory > self.host_memory * (1 + 1e-12):
            raise ValueError(
                f"flavor.memory: {self.flavor.memory / 2**30:g} GiB does not fit on a host "
                f"({self.host_memory / 2**30:g} GiB schedulable = host.memory "
                f"{self.host.memory / 2**30:g} GiB × overcommit.memory {self.overcommit.memory:g})"
            )
        if self.config_mgmt is not None and self.config_mgmt.versions > 1:
            raise ValueError(
                "config_mgmt.versions: side-by-side versions are not modelled for vm "
                "(each version would simply get its own VM); compare them as scenarios"
            )
        if self.max_hosts is not None and self.max_hosts < self.hosts:
            raise ValueError(f"max_hosts: {self.max_hosts} is below hosts ({self.hosts})")
        per_host = self.vms_per_host()
        if self.initial > self.hosts * per_host:
            raise ValueError(
                f"initial: {self.initial} VMs do not fit on {self.hosts} host(s) "
                f"({per_host} per host); raise hosts"
            )
        self.resolved_host_stages()


# -- hosts and placement --------------------------------------------------------------------

_EPS = 1e-9


@dataclass(eq=False)
class Host:
    """A hypervisor host: schedulable capacity, what is reserved on it, and whether it serves."""

    name: str
    vcpus: float
    memory: float
    ready: bool = True
    used_vcpus: float = 0.0
    used_memory: float = 0.0
    vms: set[int] = field(default_factory=set)
    in_service: simpy.Event | None = None

    def room(self, vcpus: float, memory: float) -> int:
        """How many more VMs of this size fit (the binding resource of the two)."""
        by_cpu = math.floor((self.vcpus - self.used_vcpus) / vcpus + _EPS)
        by_mem = math.floor((self.memory - self.used_memory) / memory + _EPS)
        return max(0, min(by_cpu, by_mem))

    def fits(self, vcpus: float, memory: float) -> bool:
        return self.room(vcpus, memory) >= 1

    def reserve(self, vm_id: int, vcpus: float, memory: float) -> None:
        """Reserve a VM's share (the caller checked ``fits``)."""
        self.used_vcpus += vcpus
        self.used_memory += memory
        self.vms.add(vm_id)

    def release(self, vm_id: int, vcpus: float, memory: float) -> None:
        """Give a retired VM's share back."""
        if vm_id in self.vms:
            self.vms.remove(vm_id)
            self.used_vcpus -= vcpus
            self.used_memory -= memory


def choose_host(
    hosts: Sequence[Host], vcpus: float, memory: float, placement: Placement
) -> Host | None:
    """The host a new VM goes to, or None if none has room.

    Hosts in service come first; only if none fits are hosts still being bought
    considered. Among the candidates, ``first_fit`` takes the first in purchase
    order, ``best_fit`` the one with the least room (in VMs of this size), the
    earlier host on ties.
    """
    for tier in (True, False):
        fits = [h for h in hosts if h.ready is tier and h.fits(vcpus, memory)]
        if fits:
            if placement == "first_fit":
                return fits[0]
            return min(fits, key=lambda h: h.room(vcpus, memory))
    return None


# -- platform -------------------------------------------------------------------------------


class VMPlatform(ProvisionedPlatform):
    """VMs placed at launch on owned hosts; hosts bought through a physical pipeline."""

    config: VMConfig

    def __init__(self, config: VMConfig, ctx: RunContext) -> None:
        super().__init__(config, ctx)
        self.host_stages = config.resolved_host_stages()
        self.network.add_link("image_store", config.image_store)
        self.hosts: list[Host] = []
        self.counters: dict[str, int] = ctx.extras.setdefault("counters", {})
        self.counters["vm_hosts_bought"] = 0
        self.counters["vm_launches_refused"] = 0
        self.reruns: Reruns | None = None
        cm = config.config_mgmt
        if cm is not None and cm.rerun:
            # Re-runs take the pipeline's config_mgmt duration, so a stage override applies.
            cm_dur = next((s.duration for s in self.stages if s.name == CM_STAGE), None)
            self.reruns = Reruns(ctx, cm, cm_dur or cm.stage().duration, self.rng)

    # -- hosts ------------------------------------------------------------------------------

    def _new_host(self) -> Host:
        cfg = self.config
        host = Host(f"host{len(self.hosts)}", cfg.host_vcpus, cfg.host_memory, ready=False)
        host.in_service = self.env.event()
        self.hosts.append(host)
        return host

    def _host_in_service(self, host: Host) -> None:
        host.ready = True
        # Amortisation starts when the host is placed in service, and runs used or not.
        self.ctx.cluster.cost_rate.add(self.env.now, self.config.host.price)
        assert host.in_service is not None
        host.in_service.succeed(host)

    def _buy_host(self) -> Host:
        host = self._new_host()
        self.counters["vm_hosts_bought"] += 1
        self.env.process(self._host_pipeline(host))
        return host

    def _host_pipeline(self, host: Host) -> Generator[simpy.Event, Any, None]:
        yield from run_stages(
            self.env,
            self.host_stages,
            self.resources,
            self.rng,
            self.network,
            host.name,
            self.ctx.cluster.spans,
        )
        self._host_in_service(host)

    def _place(self, *, may_buy: bool) -> Host | None:
        cfg = self.config
        host = choose_host(self.hosts, cfg.flavor.vcpus, cfg.flavor.memory, cfg.placement)
        if host is None and may_buy and (cfg.max_hosts is None or len(self.hosts) < cfg.max_hosts):
            host = self._buy_host()
        return host

    def _reserve(self, host: Host, inst: Instance) -> None:
        host.reserve(inst.id, self.config.flavor.vcpus, self.config.flavor.memory)
        inst.tags["host"] = host

    # -- hooks ------------------------------------------------------------------------------

    def launch_kwargs(self) -> dict[str, Any]:
        return {
            "price": self.config.flavor.licence,
            "speed": self.config.speed_factor * self.ctx.scenario.serving.speed,
        }

    def start(self) -> None:
        for _ in range(self.config.hosts):
            self._host_in_service(self._new_host())
        for _ in range(self.config.initial):
            host = self._place(may_buy=False)
            assert host is not None  # validated: initial VMs fit on the initial hosts
            inst = self.ctx.cluster.launch(**self.launch_kwargs())
            self._reserve(host, inst)
            self.ctx.cluster.mark_ready(inst)
            self._serving(inst)

    def launch_new(self) -> Instance | None:
        host = self._place(may_buy=True)
        if host is None:
            self.counters["vm_launches_refused"] += 1
            return None
        inst = super().launch_new()
        # The provisioning process has not run yet (SimPy starts it at the next step).
        assert inst is not None
        self._reserve(host, inst)
        return inst

    def provision(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        host: Host = inst.tags["host"]
        if not host.ready:
            assert host.in_service is not None
            t0 = self.env.now
            try:
                yield host.in_service
            except simpy.Interrupt:
                self._procs.pop(inst.id, None)
                return
            self.ctx.cluster.spans.append(
                ProvisioningSpan(inst.name, "wait_for_host", t0, self.env.now, 0.0)
            )
        yield from super().provision(inst)
        if inst.state is State.READY:
            self._serving(inst)

    def _serving(self, inst: Instance) -> None:
        """A VM serves: its configuration-management agent re-runs while it does."""
        if self.reruns is None:
            return
        now = self.env.now
        last = next(
            (
                (s.start_s, s.end_s)
                for s in reversed(self.ctx.cluster.spans)
                if s.instance == inst.name and s.stage == CM_STAGE
            ),
            (now, now),
        )
        self.reruns.start(inst.name, lambda: inst.state is State.READY, *last)

    def on_retire(self, inst: Instance) -> None:
        """Free the VM's share on its host (hosts themselves stay, and keep costing)."""
        host = inst.tags.get("host")
        if isinstance(host, Host):
            host.release(inst.id, self.config.flavor.vcpus, self.config.flavor.memory)

    # -- faults -----------------------------------------------------------------------------

    def _reboot_stages(self) -> list[Stage]:
        """A restarted VM only boots: its disk and configuration survive."""
        return [s for s in self.stages if s.name == "boot"]

    def failure_domains(self) -> dict[str, list[Instance]]:
        """Hypervisor hosts in service → the VMs reserved on them."""
        on: dict[str, list[Instance]] = {h.name: [] for h in self.hosts_in_service()}
        for inst in self.ctx.cluster.instances:
            host = inst.tags.get("host")
            if isinstance(host, Host) and host.name in on:
                on[host.name].append(inst)
        return on

    def hosts_in_service(self) -> list[Host]:
        """The hosts that serve (bought, not failed)."""
        return [h for h in self.hosts if h.ready and h.vcpus > 0]

    def crash(self, inst: Instance, until: float | None = None) -> None:
        """The guest crashes and the VM reboots in place, on the same host."""
        host = inst.tags.get("host")
        self.ctx.cluster.fail(inst)  # releases its share on the host
        wait = max(0.0, (until or 0.0) - self.env.now)
        new = self.relaunch(inst, stages=self._reboot_stages(), delay=wait, label="host_down")
        if isinstance(host, Host):
            self._reserve(host, new)

    def fail_host(self, host: str, until: float | None = None) -> None:
        """The hypervisor host dies: its VMs are restarted on the hosts left (a host is
        bought if none has room), as vSphere HA does; the host is back at ``until``,
        else it stays broken (owned: it keeps costing)."""
        dead = next(h for h in self.hosts if h.name == host)
        capacity = (dead.vcpus, dead.memory)
        dead.vcpus = dead.memory = 0.0  # nothing fits on it any more
        victims = [i for i in self.ctx.cluster.instances if i.tags.get("host") is dead]
        # A VM that had booted (or was being restarted from its disk) reboots elsewhere.
        booted = [i.state is State.READY or "stages" in i.tags for i in victims]
        for inst in victims:
            if inst in self.pending:  # still being built or restarted: stop that, too
                self.pending.remove(inst)
                proc = self._procs.pop(inst.id, None)
                if proc is not None and proc.is_alive:
                    proc.interrupt("host failed")
            self.ctx.cluster.fail(inst)
        for inst, was_ready in zip(victims, booted, strict=True):
            place = self._place(may_buy=True)
            if place is None:
                self.counters["vm_launches_refused"] += 1
                continue
            # One still being built starts over.
            stages = self._reboot_stages() if was_ready else None
            new = self.relaunch(inst, stages=stages, delay=HA_RESTART_S, label="ha_restart")
            self._reserve(place, new)
        if until is not None:
            timer = self.env.timeout(until - self.env.now)
            assert timer.callbacks is not None

            def back(_ev: Any) -> None:
                dead.vcpus, dead.memory = capacity

            timer.callbacks.append(back)


HA_RESTART_S = cite(
    "vm",
    "HA restart after a host failure",
    15.0,
    "15 s",
    "placeholder: vSphere HA declares a host failed after missed heartbeats, then "
    "restarts its VMs on the other hosts (vSphere Availability guide)",
    "U",
)


@PLATFORMS.register(
    "vm",
    VMConfig,
    "VMs packed on owned hypervisor hosts: image copy over a shared link or linked clone, "
    "boot, configure; a full pool buys a host (order, rack, OS, hypervisor)",
    "KVM/libvirt, VMware, OpenStack Nova placement; Felter et al. 2014",
)
def build_vm(config: VMConfig, ctx: RunContext) -> VMPlatform:
    return VMPlatform(config, ctx)
