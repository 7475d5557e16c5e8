"""``cloud`` (IaaS): instance types, a rate-limited launch API, quota, per-second billing.

Launching an instance: API call (rate limited, ``cloud_api``) → pending →
running → OS boot → user-data / configuration (skipped with a baked image) →
application ready. Defaults from ``../shared/CALIBRATION.md`` ("Virtual
machines and IaaS cloud"); each is in the catalog ``deploysim list`` shows.

Billing is per second from launch to termination with a 60 s minimum (AWS,
Linux, since Oct 2017). The account quota caps running vCPUs: a launch that
would exceed it is refused (counted in ``cloud_launches_refused``) and retried
by the next scaling decision, as AWS answers ``VcpuLimitExceeded``.

A ``cloud_api_errors`` fault makes launch calls fail for a while (``ApiErrors``,
installed as the ``cloud_api`` rate limit's guard, so it acts on every stage
that takes a ``cloud_api`` token — cloud instances and container nodes):
``throttling`` (``RequestLimitExceeded``) is retried by the SDK's standard
mode, then by the launcher; ``insufficient_capacity``
(``InsufficientInstanceCapacity``) by the launcher only.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import simpy
from pydantic import Field, field_validator

from simulator.base import Config
from simulator.pipeline import StageSpec, fixed_duration
from simulator.platform import ProvisioningSpan, RunContext
from simulator.provisioned import ProvisionedConfig, ProvisionedPlatform
from simulator.registry import PLATFORMS, cite
from simulator.serving import Instance
from simulator.units import Duration, Price

__all__ = [
    "InstanceType",
    "INSTANCE_TYPES",
    "CloudConfig",
    "CloudPlatform",
    "cloud_stages",
    "ApiErrors",
    "ApiWindow",
    "API_ERRORS",
]

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


_SDK_SRC = (
    "AWS SDKs and Tools reference 'Retry behavior' (standard mode: three attempts); botocore "
    "retries/standard.py (DEFAULT_MAX_ATTEMPTS 3; ExponentialBackoff: "
    "rand(0,1) × min(2^(attempt−1), 20 s))"
)
SDK_MAX_ATTEMPTS = cite("cloud", "API call attempts (SDK standard retry mode)", 3, "3", _SDK_SRC)
SDK_MAX_BACKOFF_S = cite(
    "cloud", "API retry back-off cap (full jitter, base 2)", 20.0, "20 s", _SDK_SRC
)
LAUNCH_RETRY_S = cite(
    "cloud",
    "failed launch retried by the group after",
    10.0,
    "10 s",
    "placeholder: EC2 Auto Scaling 'retries until an instance becomes available' (AWS "
    "re:Post, EKS insufficient capacity errors); the interval is not documented",
    "U",
)

API_ERRORS = {
    "throttling": "RequestLimitExceeded",
    "insufficient_capacity": "InsufficientInstanceCapacity",
}


@dataclass(frozen=True, eq=False)
class ApiWindow:
    """One open window of API errors and how its failures are retried."""

    error: str
    probability: float
    max_attempts: int = SDK_MAX_ATTEMPTS
    max_backoff: float = SDK_MAX_BACKOFF_S
    retry_interval: float = LAUNCH_RETRY_S


class ApiErrors:
    """Cloud API errors while fault windows are open: the ``cloud_api`` guard.

    Each call admitted by the rate limit fails with the error of the first
    open window whose ``probability`` draw says so (probability 1 fails every
    call without a draw; no window, no draw — a run without faults uses no
    random numbers here). A failed call answers at once. Then:

    * ``throttling`` — the SDK's standard retry mode: attempt *i* failed →
      wait ``rand(0,1) × min(2^(i−1), max_backoff)`` (full jitter, draws from
      ``rng``) and call again, up to ``max_attempts`` attempts in all; a
      call out of attempts fails the launch, retried as below;
    * ``insufficient_capacity`` — not retried by the SDK (capacity does not
      come back within its seconds of back-off); the launch fails and the
      launcher (the auto scaling group) tries a new call ``retry_interval``
      later, as long as it takes.

    Every retry takes a fresh token from the rate limit. Each failure is a
    span of the instance: ``<stage> (retry: <error>)`` for an SDK retry,
    ``<stage> (launch retry: <error>)`` for the launcher's, from the failure
    to the retry. Counters: ``cloud_api_errors`` (failed calls) and
    ``cloud_launch_retries`` (launches failed and tried again).
    """

    def __init__(
        self, env: simpy.Environment, rng: np.random.Generator, counters: dict[str, int]
    ) -> None:
        self.env = env
        self.rng = rng
        self.counters = counters
        self.windows: list[ApiWindow] = []  # open, in order of opening
        for key in ("cloud_api_errors", "cloud_launch_retries"):
            counters.setdefault(key, 0)

    def open(self, window: ApiWindow) -> ApiWindow:
        """Start failing calls as ``window`` says (until ``close(window)``)."""
        if window.error not in API_ERRORS:
            raise ValueError(f"unknown API error {window.error!r} (known: {', '.join(API_ERRORS)})")
        self.windows.append(window)
        return window

    def close(self, window: ApiWindow) -> None:
        """End a window opened with ``open``."""
        self.windows.remove(window)

    def _failing(self) -> ApiWindow | None:
        for window in self.windows:
            if window.probability >= 1.0 or self.rng.random() < window.probability:
                return window
        return None

    def admit(
        self,
        instance: str,
        stage: str,
        take: Callable[[], simpy.Event],
        spans: list[ProvisioningSpan],
    ) -> Generator[simpy.Event, Any, None]:
        """Return once a call succeeds; retry failed ones as the class docstring says."""
        attempt = 0
        while (window := self._failing()) is not None:
            now = self.env.now
            attempt += 1
            self.counters["cloud_api_errors"] += 1
            if window.error == "throttling" and attempt < window.max_attempts:
                # 2^(i-1) past 2^1023 is no float: it is over any max_backoff then.
                exp = attempt - 1
                cap = window.max_backoff if exp > 1023 else min(2.0**exp, window.max_backoff)
                delay = float(self.rng.random()) * cap
                label = f"{stage} (retry: {window.error})"
            else:
                attempt = 0  # the launcher's next try is a new call with fresh SDK attempts
                delay = window.retry_interval
                label = f"{stage} (launch retry: {window.error})"
                self.counters["cloud_launch_retries"] += 1
            try:
                yield self.env.timeout(delay)
            except simpy.Interrupt:  # the launch was cancelled while waiting to retry
                spans.append(ProvisioningSpan(instance, label, now, self.env.now))
                raise
            spans.append(ProvisioningSpan(instance, label, now, self.env.now))
            yield take()


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

    def crash(self, inst: Instance, until: float | None = None) -> None:
        """The Auto Scaling group notices the failed status check, terminates the
        instance and launches a new one through the whole pipeline (in another zone:
        ``until`` does not hold it back)."""
        self.ctx.cluster.fail(inst)
        self.relaunch(inst, stages=None, delay=ASG_REPLACE_S, label="status_check", same_name=False)


ASG_REPLACE_S = cite(
    "cloud",
    "failed instance noticed",
    60.0,
    "60 s",
    "EC2 docs 'Status checks for your instances': checks run every minute; the Auto "
    "Scaling group replaces an instance that fails them (EC2 Auto Scaling health checks)",
    "S",
)


@PLATFORMS.register(
    "cloud",
    CloudConfig,
    "IaaS VMs: rate-limited API, pending, boot, configure, app; quota; per-second billing",
    "EC2 (ec2-boot-bench 2021; AWS billing)",
)
def build_cloud(config: CloudConfig, ctx: RunContext) -> CloudPlatform:
    return CloudPlatform(config, ctx)
