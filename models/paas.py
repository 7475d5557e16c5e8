"""``paas`` (Heroku-like): push → build → release → dyno boot; scale by dyno count only.

What the provider runs for you, and what you may not change:

* **Releases, not dynos, are built.** A ``git push`` uploads the source
  (``push``), the slug compiler builds it (``build``, on the provider's build
  service, one build at a time per app: the ``build_workers`` pool) and the
  platform creates a release (``release``: ≈ 40–50 s observed from release to
  process start, a public Heroku log excerpt). The first build of an app runs
  with an empty dependency cache (``build_cold``); later builds reuse it
  (``build_cached``). Scaling out an app that already has a release only boots
  new dynos — no build. Each entry of ``deploys`` is a new push (a new
  release); the first build of an app with no dynos at t = 0 is its first deploy.
* **Dyno boot with a timeout.** A web dyno must bind its port within 60 s of
  launch or it is killed and counted as crashed (R10; help.heroku.com
  "Why is my app crashing with an R10 error?"; Java/Maven apps get 90 s and a
  support tool raises it, hence ``boot_timeout``). A crashed dyno is restarted
  at once the first time; repeated crashes restart after a cool-off that grows
  exponentially and is reset by a new release (Heroku changelog "Dyno restart
  policy", 11 Oct 2013). Every killed attempt is a ``boot_timeout`` span and
  counts in ``paas_boot_timeouts``. Heroku never gives up; with
  ``max_boot_attempts`` set, a dyno whose every attempt timed out stays
  *crashed*: it keeps its place in the formation and is billed (any dyno
  scaled above 0 accrues usage), but never serves — until a new release
  restarts it (``paas_dynos_crashed``).
* **A new release restarts every dyno** (Dev Center "Dyno Restarts": dynos
  restart when you deploy). Without preboot — Heroku's default, the only mode
  modelled here — a running dyno stops taking requests, finishes those in
  flight, and a fresh dyno boots the new slug: capacity dips for a boot time.
* **Dyno sizes** (``dyno``): memory, speed relative to standard-1x (the same
  CI job took 276 / 190 / 167 / 104 s on standard-1x / -2x / performance-m /
  -l, a public benchmark gist) and price per dyno-hour (USD per month ÷ 720,
  the heroku CLI price table). Speed scales request service time; builds run
  on the provider's build dynos and boot times are the app's own, so neither
  scales with the dyno size.
* **Billing** per second of dyno lifetime, from the moment the dyno is started
  (boot) until it is scaled away (Dev Center "Usage & Billing": "prorated to
  the second", "any dynos scaled above 0 accrue usage"); builds are not billed.
* **The pipeline is the provider's**: every stage is ``fixed`` and a scenario's
  ``stages`` or ``resources`` are refused at validation, naming the field
  (``scenarios[i].platform.stages.build``). What a user controls is what a
  Heroku customer controls: the dyno count (``initial``, an autoscaler), the
  dyno size, and the app's own build and boot times.

Default numbers are in the catalog ``deploysim list`` shows, each with its
source (``../shared/CALIBRATION.md`` "PaaS").
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import Any, ClassVar, Literal

import simpy
from pydantic import Field, field_validator

from simulator.base import Config, field_errors
from simulator.distributions import Distribution, Lognormal
from simulator.pipeline import Stage, StageOverride, StageSpec, fixed_duration, run_stages
from simulator.platform import ProvisioningSpan, RunContext
from simulator.provisioned import ProvisionedConfig, ProvisionedPlatform
from simulator.registry import PLATFORMS, cite
from simulator.serving import Instance, State
from simulator.units import Duration, Price

__all__ = ["DynoSize", "DYNO_SIZES", "PIPELINE", "PaasConfig", "PaasPlatform"]

_HOURS_PER_MONTH = 720.0  # Heroku quotes a dyno-hour as the monthly price / 720
_PRICES = "heroku CLI price table; help.heroku.com; Dev Center 'Usage & Billing' (CALIBRATION.md)"
_SPEED = "public benchmark gist: same CI job std-1x 276 s, std-2x 190 s, perf-m 167 s, perf-l 104 s"
_MEMORY = "Heroku Dev Center 'Dyno Types' table (CALIBRATION.md)"


class DynoSize(Config):
    """A dyno type: memory, speed relative to standard-1x, price (USD per second)."""

    name: str
    memory_mib: float = Field(gt=0)
    speed: float = Field(gt=0)
    price: Price


def _dyno(
    name: str, usd_month: float, memory_mib: float, ci_job_s: float | None, mem_status: str = "V"
) -> DynoSize:
    per_hour = usd_month / _HOURS_PER_MONTH
    cite("paas", f"price {name}", None, f"${usd_month:g}/month = ${per_hour:.5f}/h", _PRICES)
    cite("paas", f"memory {name}", None, f"{memory_mib:g} MiB", _MEMORY, mem_status)
    if ci_job_s is None:
        # Basic (Hobby's successor) has the same 1x CPU share as standard-1x in the
        # Dev Center dyno-type table; the benchmark did not run it.
        speed = cite(
            "paas",
            f"speed {name}",
            1.0,
            "1.0 × standard-1x",
            "Dev Center 'Dyno Types': same 1x CPU share as standard-1x (not benchmarked)",
            "S",
        )
    else:
        speed = cite(
            "paas",
            f"speed {name}",
            276.0 / ci_job_s,
            f"{276.0 / ci_job_s:.3f} × standard-1x (276 s / {ci_job_s:g} s)",
            _SPEED,
        )
    return DynoSize(name=name, memory_mib=memory_mib, speed=speed, price=per_hour / 3600.0)


DYNO_SIZES: dict[str, DynoSize] = {
    d.name: d
    for d in (
        _dyno("basic", 7.0, 512.0, None, "S"),
        _dyno("standard-1x", 25.0, 512.0, 276.0),
        _dyno("standard-2x", 50.0, 1024.0, 190.0),
        _dyno("performance-m", 250.0, 2560.0, 167.0),
        _dyno("performance-l", 500.0, 14336.0, 104.0),
    )
}

_LOG = "public Heroku log excerpt: release to process start ≈ 40–50 s (CALIBRATION.md)"
RELEASE_S = cite("paas", "release (release → process start)", 45.0, "45 s (40–50 s)", _LOG)
BOOT_TIMEOUT_S = cite(
    "paas",
    "boot timeout (R10)",
    60.0,
    "60 s, then the dyno is killed",
    "help.heroku.com W5ETWBQB 'Why is my app crashing with an R10 error?' (Java/Maven: 90 s)",
)
SLUG_COMPILE_LIMIT_S = cite(
    "paas", "slug compile limit", 900.0, "15 min", "Heroku slug-compiler docs (CALIBRATION.md)"
)
BUILD_WORKERS = cite(
    "paas",
    "builds at a time per app",
    1,
    "1 (later pushes queue)",
    "placeholder: one build per app at a time",
    "U",
)
PUSH_S = cite("paas", "push (source upload)", 5.0, "5 s", "placeholder for a small repository", "U")
BUILD_COLD_S = cite(
    "paas",
    "build, empty dependency cache",
    180.0,
    "180 s",
    "placeholder: first build installs every dependency; override per app",
    "U",
)
BUILD_CACHED_S = cite(
    "paas",
    "build, warm dependency cache",
    45.0,
    "45 s",
    "placeholder: later builds reuse the cache; override per app",
    "U",
)
BOOT_MEDIAN_S = cite(
    "paas",
    "dyno boot (port bound), median",
    10.0,
    "lognormal median 10 s",
    "placeholder; the tail makes ≈ 2.5 % of boots exceed the 60 s timeout",
    "U",
)
BOOT_P95_S = cite(
    "paas", "dyno boot, p95", 45.0, "lognormal p95 45 s", "placeholder (see median)", "U"
)
cite(
    "paas",
    "crash restart",
    None,
    "first restart immediate; repeated crashes back off exponentially; reset by a release",
    "Heroku changelog 'Dyno restart policy' (11 Oct 2013)",
)
COOLOFF_S = cite(
    "paas",
    "crash cool-off, second restart",
    60.0,
    "60 s, doubling per further crash",
    "placeholder: the changelog gives no numbers",
    "U",
)
COOLOFF_MAX_S = cite(
    "paas", "crash cool-off, longest", 1200.0, "20 min", "placeholder (see above)", "U"
)
cite(
    "paas",
    "billing",
    None,
    "per second of dyno lifetime; builds not billed",
    "Heroku Dev Center 'Usage & Billing' ('prorated to the second')",
)

# The provider's pipeline, in order: what the fixed-stage error lists.
PIPELINE = ("push", "build", "release", "boot")
_HINT = (
    "scale by dyno count (initial, autoscaler) or dyno size, and describe your app "
    "with push_time, build_time_cold, build_time_cached, boot_time"
)


class PaasConfig(ProvisionedConfig):
    """Heroku-like web dynos of one size; the pipeline belongs to the provider."""

    kind: Literal["paas"]
    dyno: str = Field(default="standard-1x", description="dyno size: " + ", ".join(DYNO_SIZES))
    price: Price | None = Field(
        default=None, description="override the catalog price per dyno ('$0.0347/h')"
    )
    push_time: Distribution = Field(
        default=fixed_duration(PUSH_S), description="the app's source upload (git push)"
    )
    build_time_cold: Distribution = Field(
        default=fixed_duration(BUILD_COLD_S),
        description="the app's first build, empty dependency cache",
    )
    build_time_cached: Distribution = Field(
        default=fixed_duration(BUILD_CACHED_S),
        description="the app's later builds, warm dependency cache",
    )
    boot_time: Distribution = Field(
        default=Lognormal(kind="lognormal", median=BOOT_MEDIAN_S, p95=BOOT_P95_S),
        description="the app's boot until its port is bound (a tail beyond boot_timeout crashes)",
    )
    boot_timeout: Duration = Field(
        default=BOOT_TIMEOUT_S, gt=0, description="R10: a dyno not bound by then is killed"
    )
    max_boot_attempts: int | None = Field(
        default=None,
        ge=1,
        description="boot attempts before a dyno stays crashed; absent = retry forever (Heroku)",
    )
    crash_cooloff: Duration = Field(
        default=COOLOFF_S, description="wait before the 2nd restart, doubling after each crash"
    )
    crash_cooloff_max: Duration = Field(
        default=COOLOFF_MAX_S, description="longest wait between restarts"
    )
    deploys: list[Duration] = Field(
        default_factory=list, description="times of new pushes: build, release, restart dynos"
    )
    stages: dict[str, StageOverride | None] | None = Field(
        default=None, description="not allowed: the provider's pipeline cannot be changed"
    )
    resources: dict[str, int | str] | None = Field(
        default=None, description="not allowed: the provider's build queue cannot be changed"
    )

    DEFAULT_RESOURCES: ClassVar[dict[str, int | float]] = {"build_workers": BUILD_WORKERS}

    @field_validator("stages", mode="before")
    @classmethod
    def _pipeline_is_fixed(cls, v: Any) -> Any:
        if v is None or v == {}:
            return None
        if not isinstance(v, dict):
            raise ValueError(f"the PaaS pipeline ({' → '.join(PIPELINE)}) is fixed: {_HINT}")
        problems = {}
        for name in v:
            if name in PIPELINE:
                problems[str(name)] = (
                    f"this platform's {name!r} stage is fixed by the provider and cannot be "
                    f"changed or removed; {_HINT}"
                )
            else:
                problems[str(name)] = (
                    f"the PaaS pipeline ({' → '.join(PIPELINE)}) is fixed by the provider: "
                    f"no stage can be added; {_HINT}"
                )
        raise field_errors(problems, v, cls.__name__)

    @field_validator("resources", mode="before")
    @classmethod
    def _build_queue_is_fixed(cls, v: Any) -> Any:
        if v is None or v == {}:
            return None
        if not isinstance(v, dict):
            raise ValueError("the provider's limits cannot be changed")
        raise field_errors(
            {
                str(name): (
                    f"{name!r} is the provider's limit and cannot be changed"
                    if name in cls.DEFAULT_RESOURCES
                    else f"unknown resource {name!r}; the provider's limits cannot be changed"
                )
                for name in v
            },
            v,
            cls.__name__,
        )

    @field_validator("dyno")
    @classmethod
    def _known_dyno(cls, v: str) -> str:
        if v not in DYNO_SIZES:
            raise ValueError(f"{v!r} is not a dyno size (known: {', '.join(DYNO_SIZES)})")
        return v

    @field_validator("build_time_cold", "build_time_cached")
    @classmethod
    def _within_compile_limit(cls, v: Any) -> Any:
        if v.mean_s > SLUG_COMPILE_LIMIT_S:
            raise ValueError(
                f"mean {v.mean_s:g} s is beyond Heroku's slug compile limit "
                f"({SLUG_COMPILE_LIMIT_S:g} s): such a build is aborted"
            )
        return v

    def default_stages(self) -> list[StageSpec]:
        """The provider's pipeline with this app's times (every stage ``fixed``)."""
        return [
            StageSpec(name="push", duration=self.push_time, fixed=True, source="the app"),
            StageSpec(
                name="build",
                duration=self.build_time_cached,
                holds={"build_workers": 1},
                fixed=True,
                source="the app (warm cache); the first build uses build_time_cold",
            ),
            StageSpec(name="release", duration=fixed_duration(RELEASE_S), fixed=True, source=_LOG),
            StageSpec(name="boot", duration=self.boot_time, fixed=True, source="the app"),
        ]

    @property
    def size(self) -> DynoSize:
        return DYNO_SIZES[self.dyno]


class PaasPlatform(ProvisionedPlatform):
    """Dynos of one release; a release is built once and booted by every dyno."""

    config: PaasConfig

    def __init__(self, config: PaasConfig, ctx: RunContext) -> None:
        super().__init__(config, ctx)
        by_name = {s.name: s for s in self.stages}
        warm = [by_name["push"], replace(by_name["build"], name="build_cached"), by_name["release"]]
        cold = [warm[0], replace(warm[1], name="build_cold", duration=config.build_time_cold)]
        self._release_cold: list[Stage] = [*cold, warm[2]]
        self._release_warm: list[Stage] = warm
        self._boot_time = by_name["boot"].duration
        self.price = config.price if config.price is not None else config.size.price
        # An app with dynos at t = 0 has a release (v1) and a warm build cache.
        self.release = 1 if config.initial > 0 else 0
        self._releases_started = self.release
        self._first_release = self.env.event()
        if self.release:
            self._first_release.succeed()
        self._on_release: dict[int, int] = {}  # dyno id → release its (last) boot ran
        self._crashes: dict[str, int] = {}  # dyno name → crashes injected by faults
        self.counters: dict[str, int] = ctx.extras.setdefault("counters", {})
        for name in ("paas_builds", "paas_boot_timeouts", "paas_dynos_crashed"):
            self.counters[name] = 0

    # -- hooks ------------------------------------------------------------------------------

    def launch_kwargs(self) -> dict[str, Any]:
        return {
            "price": self.price,
            "speed": self.config.size.speed * self.ctx.scenario.serving.speed,
        }

    def start(self) -> None:
        super().start()
        for inst in self.ctx.cluster.instances:
            self._on_release[inst.id] = self.release
        for at in self.config.deploys:
            self.env.process(self._deploy_at(at))

    def on_retire(self, inst: Instance) -> None:
        self._on_release.pop(inst.id, None)

    def launch_new(self) -> Instance | None:
        if self._releases_started == 0:
            # Scaling an app that was never pushed: its first deploy (cold cache).
            self.env.process(self._build_release(self._new_release_number()))
        # Billing starts when the dyno starts booting, not while it waits for a build.
        inst = self.ctx.cluster.launch(**{**self.launch_kwargs(), "price": 0.0})
        self.pending.append(inst)
        self._procs[inst.id] = self.env.process(self.provision(inst))
        return inst

    # -- releases ---------------------------------------------------------------------------

    def _deploy_at(self, at: float) -> Generator[simpy.Event, Any, None]:
        if at > self.env.now:
            yield self.env.timeout(at - self.env.now)
        yield from self._build_release(self._new_release_number())

    def _new_release_number(self) -> int:
        self._releases_started += 1
        self.counters["paas_builds"] += 1
        return self._releases_started

    def _build_release(self, number: int) -> Generator[simpy.Event, Any, None]:
        """push → build (one at a time per app) → release; then restart older dynos."""
        # Builds queue on one worker, so the app's first build is the only cold one.
        stages = self._release_cold if number == 1 else self._release_warm
        yield from run_stages(
            self.env,
            stages,
            self.resources,
            self.rng,
            self.network,
            f"release-v{number}",
            self.ctx.cluster.spans,
        )
        if number <= self.release:
            return  # a later push was released first
        self.release = number
        if not self._first_release.triggered:
            self._first_release.succeed()
        self._restart_older(number)

    def _restart_older(self, number: int) -> None:
        """A release restarts every dyno still on an older slug (no preboot)."""
        for inst in list(self.ctx.cluster.instances):
            on = self._on_release.get(inst.id)
            if on is None or on >= number:
                continue  # waiting for this release, or already on it
            if inst.state is State.READY:
                self._on_release.pop(inst.id)
                self.ctx.cluster.drain(inst)
                self.launch_new()
            elif inst.state is State.PROVISIONING:
                proc = self._procs.get(inst.id)
                if proc is not None and proc.is_alive:
                    proc.interrupt("release")
                else:  # crashed: a release resets the cool-off and boots it again
                    self._procs[inst.id] = self.env.process(self.provision(inst))

    # -- dynos ------------------------------------------------------------------------------

    def provision(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        asked = self.env.now
        try:
            while True:
                try:
                    if not self._first_release.triggered:
                        yield self._first_release
                    booted = yield from self._boot(inst, asked)
                    break
                except simpy.Interrupt as exc:
                    if exc.cause != "release":
                        return  # scaled in: the base class retired the dyno
                    asked = self.env.now
        finally:
            self._procs.pop(inst.id, None)
        if not booted:
            self.counters["paas_dynos_crashed"] += 1
            return  # crashed: stays in the formation (billed), never ready
        self.pending.remove(inst)
        self.ctx.cluster.mark_ready(inst)
        self._note_ready()

    def crash(self, inst: Instance, until: float | None = None) -> None:
        """The dyno manager restarts a crashed dyno: at once the first time, after a
        cool-off doubling with each further crash of that dyno (``_cooloff``)."""
        self.ctx.cluster.fail(inst)
        crashes = self._crashes.get(inst.name, 0) + 1
        self._crashes[inst.name] = crashes
        new = self.ctx.cluster.launch(**{**self.launch_kwargs(), "price": 0.0, "name": inst.name})
        self.pending.append(new)
        wait = max(self._cooloff(crashes), (until or 0.0) - self.env.now)
        self._procs[new.id] = self.env.process(self._after(new, wait, "crash_cooloff"))

    def _start_billing(self, inst: Instance) -> None:
        if inst.price == 0.0 and self.price > 0.0:
            inst.price = self.price
            self.ctx.cluster.cost_rate.add(self.env.now, self.price)

    def _cooloff(self, crashes: int) -> float:
        """Wait before restarting after ``crashes`` consecutive crashes (first: none)."""
        if crashes <= 1:
            return 0.0
        return float(
            min(self.config.crash_cooloff_max, self.config.crash_cooloff * 2 ** (crashes - 2))
        )

    def _boot(self, inst: Instance, asked: float) -> Generator[simpy.Event, Any, bool]:
        """Boot attempts until one binds its port in time; False if it stays crashed."""
        env, spans, timeout = self.env, self.ctx.cluster.spans, self.config.boot_timeout
        crashes = 0
        waiting_since = asked
        while True:
            cooloff = self._cooloff(crashes)
            if cooloff > 0:
                yield env.timeout(cooloff)
            start = env.now
            self._start_billing(inst)
            self._on_release[inst.id] = self.release
            duration = float(self._boot_time.sample(self.rng, 1)[0])
            waited = start - waiting_since
            try:
                yield env.timeout(min(duration, timeout))
            except simpy.Interrupt:
                spans.append(
                    ProvisioningSpan(inst.name, "boot_interrupted", start, env.now, waited)
                )
                raise
            if duration <= timeout:
                spans.append(ProvisioningSpan(inst.name, "boot", start, env.now, waited))
                return True
            # R10: killed at the timeout; the dyno manager restarts it.
            spans.append(ProvisioningSpan(inst.name, "boot_timeout", start, env.now, waited))
            self.counters["paas_boot_timeouts"] += 1
            crashes += 1
            waiting_since = env.now
            limit = self.config.max_boot_attempts
            if limit is not None and crashes >= limit:
                return False


@PLATFORMS.register(
    "paas",
    PaasConfig,
    "Heroku-like dynos: push, build (cached), release, boot with R10 timeout; dyno sizes",
    "Heroku (Dev Center, help.heroku.com R10, benchmark gist)",
)
def build_paas(config: PaasConfig, ctx: RunContext) -> PaasPlatform:
    return PaasPlatform(config, ctx)
