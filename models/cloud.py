"""``cloud`` (IaaS): instance types, a rate-limited launch API, quota, per-second billing.

Launching an instance: API call (rate limited, ``cloud_api``) → pending →
running → OS boot → user-data / configuration (skipped with a baked image) →
application ready. Defaults from ``../shared/CALIBRATION.md`` ("Virtual
machines and IaaS cloud"); each is in the catalog ``deploysim list`` shows.

Billing is per second from launch to termination with a 60 s minimum (AWS,
Linux, since Oct 2017). The account quota caps running vCPUs: a launch that
would exceed it is refused (counted in ``cloud_launches_refused``) and retried
by the next scaling decision, as AWS answers ``VcpuLimitExceeded``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from simulator.base import Config
from simulator.pipeline import StageSpec, fixed_duration
from simulator.platform import RunContext
from simulator.provisioned import ProvisionedConfig, ProvisionedPlatform
from simulator.registry import PLATFORMS, cite
from simulator.serving import Instance
from simulator.units import Duration, Price

__all__ = ["InstanceType", "INSTANCE_TYPES", "CloudConfig", "CloudPlatform", "cloud_stages"]

_PRICES = "third-party tables copied from AWS pricing, us-east-1 on-demand (CALIBRATION.md)"


class InstanceType(Config):
    """A cloud instance type: size, price, and speed relative to the reference core."""

    name: str
    vcpus: int = Field(ge=1)
    memory_gib: float = Field(gt=0)
    price: Price
    speed: float = Field(default=1.0, gt=0)


def _itype(name: str, vcpus: int, mem: float, per_hour: float, speed: float = 1.0) -> InstanceType:
    cite("cloud", f"price {name}", None, f"${per_hour}/h ({vcpus} vCPU, {mem} GiB)", _PRICES, "S")
    return InstanceType(
        name=name, vcpus=vcpus, memory_gib=mem, price=per_hour / 3600.0, speed=speed
    )


INSTANCE_TYPES: dict[str, InstanceType] = {
    t.name: t
    for t in (
        _itype("m5.large", 2, 8, 0.096),
        _itype("c5.large", 2, 4, 0.085),
        _itype("c5.xlarge", 4, 8, 0.17),
        _itype("r5.large", 2, 16, 0.126),
        _itype("t3.micro", 2, 1, 0.0104),
    )
}

_BOOT = "ec2-boot-bench (C. Percival, 2021); brevdev ec2-coldboot-research (CALIBRATION.md)"
API_S = cite("cloud", "api call", 1.5, "1.5 s", _BOOT)
PENDING_S = cite("cloud", "pending → running", 11.5, "11.5 s (5–18 s)", _BOOT)
BOOT_S = cite("cloud", "boot to SSH", 13.0, "13 s (3–23 s)", _BOOT)
CONFIGURE_S = cite(
    "cloud",
    "configure at boot (user-data: packages + app)",
    120.0,
    "120 s",
    "placeholder for a cloud-init package install; override per service",
    "U",
)
APP_START_S = cite("cloud", "app start", 5.0, "5 s", "placeholder", "U")
API_RATE = cite(
    "cloud",
    "launch API rate",
    2.0,
    "2/s (burst 2)",
    "EC2 RunInstances resource token bucket refill 2/s [U: bucket size differs by account]",
    "U",
)
MIN_BILLED_S = cite("cloud", "billing minimum", 60.0, "60 s, then per second", "AWS (Oct 2017)")
QUOTA_VCPUS = cite(
    "cloud",
    "running vCPU quota",
    1152,
    "1152 vCPUs",
    "typical On-Demand Standard vCPU limit of an established account",
    "U",
)


def cloud_stages(baked_image: bool) -> list[StageSpec]:
    """The launch pipeline; a baked image skips configuration at boot."""
    stages = [
        StageSpec(name="api_call", duration=fixed_duration(API_S), rate_limit="cloud_api"),
        StageSpec(name="pending", duration=fixed_duration(PENDING_S)),
        StageSpec(name="boot", duration=fixed_duration(BOOT_S)),
    ]
    if not baked_image:
        stages.append(StageSpec(name="configure", duration=fixed_duration(CONFIGURE_S)))
    stages.append(StageSpec(name="app_start", duration=fixed_duration(APP_START_S)))
    return stages


class CloudConfig(ProvisionedConfig):
    """IaaS virtual machines of one instance type."""

    kind: Literal["cloud"]
    instance_type: str = Field(default="m5.large", description="a name from the catalog")
    baked_image: bool = Field(
        default=False, description="AMI with the app baked in: no configuration at boot"
    )
    quota_vcpus: int = Field(default=QUOTA_VCPUS, ge=1)
    min_billed: Duration = Field(default=MIN_BILLED_S)
    price: Price | None = Field(default=None, description="override the catalog price")

    DEFAULT_RESOURCES: ClassVar[dict[str, int | float]] = {"cloud_api": API_RATE}

    @field_validator("instance_type")
    @classmethod
    def _known_type(cls, name: str) -> str:
        if name not in INSTANCE_TYPES:
            raise ValueError(f"{name!r} is not in the catalog (known: {', '.join(INSTANCE_TYPES)})")
        return name

    def default_stages(self) -> list[StageSpec]:
        return cloud_stages(self.baked_image)

    @property
    def itype(self) -> InstanceType:
        return INSTANCE_TYPES[self.instance_type]


class CloudPlatform(ProvisionedPlatform):
    """Instances bill from the launch request to termination, at least ``min_billed``."""

    config: CloudConfig

    def __init__(self, config: CloudConfig, ctx: RunContext) -> None:
        super().__init__(config, ctx)
        self.refused = 0
        ctx.extras.setdefault("counters", {})["cloud_launches_refused"] = 0

    def launch_kwargs(self) -> dict[str, Any]:
        itype = self.config.itype
        price = self.config.price if self.config.price is not None else itype.price
        return {"price": price, "speed": itype.speed * self.ctx.scenario.serving.speed}

    def _running_vcpus(self) -> int:
        return len(self.ctx.cluster.instances) * self.config.itype.vcpus

    def launch_new(self) -> Instance | None:
        if self._running_vcpus() + self.config.itype.vcpus > self.config.quota_vcpus:
            self.refused += 1
            self.ctx.extras["counters"]["cloud_launches_refused"] = self.refused
            return None
        return super().launch_new()

    def on_retire(self, inst: Instance) -> None:
        """Charge the billing minimum for an instance that lived shorter than it."""
        lived = self.env.now - inst.t_created
        if lived < self.config.min_billed:
            self.ctx.cluster.charge((self.config.min_billed - lived) * inst.price)


@PLATFORMS.register(
    "cloud",
    CloudConfig,
    "IaaS VMs: rate-limited API, pending, boot, configure, app; quota; per-second billing",
    "EC2 (ec2-boot-bench 2021; AWS billing)",
)
def build_cloud(config: CloudConfig, ctx: RunContext) -> CloudPlatform:
    return CloudPlatform(config, ctx)
