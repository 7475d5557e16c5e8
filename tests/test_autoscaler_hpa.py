"""``hpa``: the Kubernetes Horizontal Pod Autoscaler, step by step against upstream.

Three layers, each read like a trace:

1. the upstream unit-test vectors (``kubernetes/kubernetes``
   ``pkg/controller/podautoscaler/replica_calculator_test.go`` and
   ``horizontal_test.go``) replayed on the pure functions — same inputs, same
   expected replica counts;
2. the worked examples of the reference (§1.8) and one test per config key,
   each driving ``decide`` with hand-made observations so the key's effect is
   visible in the numbers (the test fails if the key is ignored);
3. whole runs on ``kind: container`` with a deterministic step load, asserting
   the ``scaling`` table row by row against a hand computation.

Upstream tests give each pod two containers with equal values; here a pod's
value is one number (the ratios, hence the replica counts, are the same).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import simulator
from simulator.autoscalers.hpa import (
    Behavior,
    HpaAutoscaler,
    HpaPolicy,
    HpaState,
    MetricError,
    Observation,
    Pod,
    PodMetric,
    Rules,
    Tolerances,
    convert_with_behavior_rate,
    convert_with_rules,
    decide,
    get_external_value_replicas,
    get_plain_metric_replicas,
    get_resource_replicas,
    group_pods,
    legacy_scale_up_limit,
    milli,
    parse_percent,
    pod_cpu_millis,
    replicas_change_in_period,
    replicas_for_metrics,
    scale_down_limit,
    scale_up_limit,
    stabilize_legacy,
    stabilize_with_behavior,
    store_scale_event,
)
from simulator.loading import InputError
from simulator.registry import AUTOSCALERS, CATALOG

# -- upstream test fixtures -------------------------------------------------------------------

NOW = 10_000.0
ZERO = 0.0  # Go's zero time: long before NOW
HOT = NOW  # hotCPUCreationTime(): the pod started now
COOL = NOW - 180.0  # coolCPUCreationTime(): three minutes ago
TEST_CPU_INIT = 120.0  # defaultTestingCPUInitializationPeriod
TEST_DELAY = 10.0  # defaultTestingDelayOfInitialReadinessStatus
TOL = Tolerances(0.1, 0.1)  # defaultTestingTolerance


def upstream_pods(
    n: int,
    ready: list[bool] | None = None,
    phase: list[str] | None = None,
    deleting: list[bool] | None = None,
    start: list[float] | None = None,
) -> list[Pod]:
    """``prepareTestClientSet``: Running, Ready=True (zero transition time), zero start."""
    return [
        Pod(
            f"test-pod-{i}",
            phase=phase[i] if phase else "Running",
            ready=ready[i] if ready else True,
            ready_transition=ZERO,
            start_time=start[i] if start else ZERO,
            deleting=deleting[i] if deleting else False,
        )
        for i in range(n)
    ]


def upstream_metrics(levels: list[int], names: list[str] | None = None) -> dict[str, PodMetric]:
    """``prepareTestMetricsClient``: zero timestamp, one-minute window."""
    return {
        (names[i] if names else f"test-pod-{i}"): PodMetric(v, ZERO, 60.0)
        for i, v in enumerate(levels)
    }


def requests_of(values: list[int]) -> dict[str, int]:
    return {f"test-pod-{i}": v for i, v in enumerate(values)}


# (name, current, pods kwargs, levels, requests, target %, expected replicas, expected util %)
RESOURCE_VECTORS: list[tuple[str, int, dict[str, Any], list[int], list[int], int, int, int]] = [
    ("ScaleUp", 3, {}, [300, 500, 700], [1000] * 3, 30, 5, 50),
    (
        "ScaleUpUnreadyLessScale",
        3,
        {"ready": [False, True, True]},
        [300, 500, 700],
        [1000] * 3,
        30,
        4,
        60,
    ),
    (
        "ScaleUpHotCpuLessScale",
        3,
        {"start": [HOT, COOL, COOL]},
        [300, 500, 700],
        [1000] * 3,
        30,
        4,
        60,
    ),
    (
        "ScaleUpUnreadyNoScale",
        3,
        {"ready": [True, False, False]},
        [400, 500, 700],
        [1000] * 3,
        30,
        3,
        40,
    ),
    (
        "ScaleHotCpuNoScale",
        3,
        {"ready": [True, False, False], "start": [COOL, HOT, HOT]},
        [400, 500, 700],
        [1000] * 3,
        30,
        3,
        40,
    ),
    (
        "ScaleUpIgnoresFailedPods",
        2,
        {
            "n": 4,
            "ready": [True, True, False, False],
            "phase": ["Running", "Running", "Failed", "Failed"],
        },
        [500, 700],
        [1000] * 4,
        30,
        4,
        60,
    ),
    (
        "ScaleUpIgnoresDeletionPods",
        2,
        {"n": 4, "ready": [True, True, False, False], "deleting": [False, False, True, True]},
        [500, 700],
        [1000] * 4,
        30,
        4,
        60,
    ),
    ("ScaleDown", 5, {}, [100, 300, 500, 250, 250], [1000] * 5, 50, 3, 28),
    (
        "ScaleDownExcludeUnreadyPods",
        5,
        {"ready": [True, True, True, False, False]},
        [100, 300, 500, 250, 250],
        [1000] * 5,
        50,
        2,
        30,
    ),
    (
        "ScaleDownExcludeUnscheduledPods",
        5,
        {
            "ready": [True, False, False, False, False],
            "phase": ["Running", "Pending", "Pending", "Pending", "Pending"],
        },
        [100],
        [1000] * 5,
        50,
        1,
        10,
    ),
    (
        "ScaleDownIgnoreHotCpuPods",
        5,
        {"start": [COOL, COOL, COOL, HOT, HOT]},
        [100, 300, 500, 250, 250],
        [1000] * 5,
        50,
        2,
        30,
    ),
    (
        "ScaleDownIgnoresFailedPods",
        5,
        {
            "n": 7,
            "ready": [True] * 5 + [False] * 2,
            "phase": ["Running"] * 5 + ["Failed"] * 2,
        },
        [100, 300, 500, 250, 250],
        [1000] * 7,
        50,
        3,
        28,
    ),
    (
        "ScaleDownIgnoresDeletionPods",
        5,
        {"n": 7, "ready": [True] * 5 + [False] * 2, "deleting": [False] * 5 + [True] * 2},
        [100, 300, 500, 250, 250],
        [1000] * 7,
        50,
        3,
        28,
    ),
    ("Tolerance", 3, {}, [1010, 1030, 1020], [900, 1000, 1100], 100, 3, 102),
    ("MissingMetrics", 4, {}, [400, 95], [1000] * 4, 100, 3, 24),
    ("MissingMetricsNoChangeEq", 2, {}, [1000], [1000] * 2, 100, 2, 100),
    ("MissingMetricsNoChangeGt", 2, {}, [1900], [1000] * 2, 100, 2, 190),
    ("MissingMetricsNoChangeLt", 2, {}, [600], [1000] * 2, 100, 2, 60),
    (
        "MissingMetricsUnreadyChange",
        3,
        {"ready": [False, True, True]},
        [100, 450],
        [1000] * 3,
        50,
        3,
        45,
    ),
    (
        "MissingMetricsHotCpuNoChange",
        3,
        {"start": [HOT, COOL, COOL]},
        [100, 450],
        [1000] * 3,
        50,
        3,
        45,
    ),
    (
        "MissingMetricsUnreadyScaleUp",
        3,
        {"ready": [False, True, True]},
        [100, 2000],
        [1000] * 3,
        50,
        4,
        200,
    ),
    (
        "MissingMetricsHotCpuScaleUp",
        3,
        {"ready": [False, True, True], "start": [HOT, COOL, COOL]},
        [100, 2000],
        [1000] * 3,
        50,
        4,
        200,
    ),
    (
        "MissingMetricsUnreadyScaleDown",
        4,
        {"ready": [False, True, True, True]},
        [100, 100, 100],
        [1000] * 4,
        50,
        3,
        10,
    ),
    (
        "MissingMetricsScaleDownTargetOver100",
        4,
        {"ready": [False, True, True, True]},
        [200, 100, 100],
        [1000, 1000, 2000, 2000],
        300,
        2,
        6,
    ),
    ("DuringRollingUpdateWithMaxSurge", 2, {"n": 3}, [100, 100], [1000] * 3, 50, 2, 10),
    # TestReplicaCalcComputedToleranceAlgImplementation: 10 pods at 150m, requests
    # 300m ± jitter; target 56 % breaks the tolerance (9 pods), 55 % does not.
    (
        "ComputedToleranceAlg",
        10,
        {},
        [150] * 10,
        [400, 200, 310, 290, 302, 298, 301, 299, 300, 300],
        56,
        9,
        50,
    ),
    (
        "ComputedToleranceAlgNoScale",
        10,
        {},
        [150] * 10,
        [400, 200, 310, 290, 302, 298, 301, 299, 300, 300],
        55,
        10,
        50,
    ),
]


@pytest.mark.parametrize(
    "current, pod_kw, levels, requests, target, expected, util",
    [v[1:] for v in RESOURCE_VECTORS],
    ids=[v[0] for v in RESOURCE_VECTORS],
)
def test_upstream_resource_replica_vectors(
    current: int,
    pod_kw: dict[str, Any],
    levels: list[int],
    requests: list[int],
    target: int,
    expected: int,
    util: int,
) -> None:
    kw = dict(pod_kw)
    n = kw.pop("n", current)
    got = get_resource_replicas(
        current,
        target,
        upstream_pods(n, **kw),
        upstream_metrics(levels),
        requests_of(requests),
        NOW,
        TOL,
        TEST_CPU_INIT,
        TEST_DELAY,
    )
    assert got == (expected, util)


def test_upstream_superfluous_metrics_count_only_for_known_pods() -> None:
    # TestReplicaCalcSuperfluousMetrics: 6 metrics, 4 pods -> utilisation 587 %, 24 replicas.
    got = get_resource_replicas(
        4,
        100,
        upstream_pods(4),
        upstream_metrics([4000, 9500, 3000, 7000, 3200, 2000]),
        requests_of([1000] * 4),
        NOW,
        TOL,
        TEST_CPU_INIT,
        TEST_DELAY,
    )
    assert got == (24, 587)


@pytest.mark.parametrize(
    "pods, metrics, requests, message",
    [
        # TestReplicaCalcDisjointResourcesMetrics
        (
            upstream_pods(1),
            upstream_metrics([100], ["an-older-pod-name"]),
            requests_of([1000]),
            "no metrics returned matched known pods",
        ),
        # TestReplicaCalcEmptyCPURequest
        (upstream_pods(1), upstream_metrics([200]), {}, "missing request for"),
        # TestReplicaCalcEmptyMetrics
        (upstream_pods(3), {}, requests_of([1000] * 3), "did not receive metrics"),
        ([], {}, {}, "no pods returned by selector"),
    ],
    ids=["DisjointResourcesMetrics", "EmptyCPURequest", "EmptyMetrics", "NoPods"],
)
def test_upstream_resource_errors(
    pods: list[Pod], metrics: dict[str, PodMetric], requests: dict[str, int], message: str
) -> None:
    with pytest.raises(MetricError, match=message):
        get_resource_replicas(1, 100, pods, metrics, requests, NOW, TOL, TEST_CPU_INIT, TEST_DELAY)


# (name, current, pods kwargs, levels, target milli, expected replicas, expected usage)
PLAIN_VECTORS: list[tuple[str, int, dict[str, Any], list[int], int, int, int]] = [
    ("ScaleUpCM", 3, {}, [20000, 10000, 30000], 15000, 4, 20000),
    # The CPU readiness rules do not apply to a Pods metric: all three count.
    (
        "ScaleUpCMUnreadyHotCpuNoLessScale",
        3,
        {"ready": [True, True, False], "start": [COOL, COOL, HOT]},
        [50000, 10000, 30000],
        15000,
        6,
        30000,
    ),
    (
        "ScaleUpCMUnreadyHotCpuScaleWouldScaleDown",
        3,
        {"ready": [False, True, False], "start": [HOT, COOL, HOT]},
        [50000, 15000, 30000],
        15000,
        7,
        31666,
    ),
    ("ScaleUpCMExternalNoLabels", 1, {}, [8600], 4400, 2, 8600),
    ("ScaleDownCM", 5, {}, [12000] * 5, 20000, 3, 12000),
    ("ToleranceCM", 3, {}, [20000, 21000, 21000], 20000, 3, 20666),
    ("PlainMetricMissingMetricsNoChangeEq", 5, {}, [20000, 19000, 21000], 20000, 5, 20000),
    ("DuringRollingUpdateWithMaxSurgeCM", 2, {"n": 3}, [10000, 10000], 17000, 2, 10000),
]


@pytest.mark.parametrize(
    "current, pod_kw, levels, target, expected, usage",
    [v[1:] for v in PLAIN_VECTORS],
    ids=[v[0] for v in PLAIN_VECTORS],
)
def test_upstream_pods_metric_vectors(
    current: int, pod_kw: dict[str, Any], levels: list[int], target: int, expected: int, usage: int
) -> None:
    kw = dict(pod_kw)
    n = kw.pop("n", current)
    got = get_plain_metric_replicas(
        current, target, upstream_pods(n, **kw), upstream_metrics(levels), NOW, TOL
    )
    assert got == (expected, usage)


@pytest.mark.parametrize(
    "current, ready, usage, target, expected",
    [
        (3, [False, True, False], 8600, 4400, 2),  # ScaleUpCMExternalIgnoresUnreadyPods
        (5, None, 8600, 14334, 3),  # ScaleDownCMExternal
        (3, None, 8600, 8888, 3),  # ToleranceCMExternal
    ],
    ids=["ScaleUpCMExternalIgnoresUnreadyPods", "ScaleDownCMExternal", "ToleranceCMExternal"],
)
def test_upstream_external_value_vectors(
    current: int, ready: list[bool] | None, usage: int, target: int, expected: int
) -> None:
    pods = upstream_pods(current, ready=ready)
    assert get_external_value_replicas(current, usage, target, pods, TOL) == expected


def _pod(name: str, start: float | None, ready: bool | None, transition: float = 0.0) -> Pod:
    return Pod(name, "Succeeded", ready, transition, start)


# TestGroupPods (CPU init 2 min, readiness delay 10 s); times relative to NOW.
GROUP_VECTORS: list[
    tuple[str, list[Pod], dict[str, PodMetric], bool, int, set[str], set[str], set[str]]
] = [
    ("void", [], {}, True, 0, set(), set(), set()),
    (
        "count in a ready pod - memory",
        [Pod("bentham", "Succeeded", None, 0.0, None)],
        {"bentham": PodMetric(1, NOW, 60.0)},
        False,
        1,
        set(),
        set(),
        set(),
    ),
    (
        "unready a pod without ready condition - CPU",
        [_pod("lucretius", NOW, None)],
        {"lucretius": PodMetric(1)},
        True,
        0,
        {"lucretius"},
        set(),
        set(),
    ),
    (
        "count in a ready pod with fresh metrics during initialization period - CPU",
        [_pod("bentham", NOW - 60, True, NOW - 30)],
        {"bentham": PodMetric(1, NOW, 30.0)},
        True,
        1,
        set(),
        set(),
        set(),
    ),
    (
        "unready a ready pod without fresh metrics during initialization period - CPU",
        [_pod("bentham", NOW - 60, True, NOW - 30)],
        {"bentham": PodMetric(1, NOW, 60.0)},
        True,
        0,
        {"bentham"},
        set(),
        set(),
    ),
    (
        "unready an unready pod during initialization period - CPU",
        [_pod("lucretius", NOW - 600, False, NOW - 594)],
        {"lucretius": PodMetric(1)},
        True,
        0,
        {"lucretius"},
        set(),
        set(),
    ),
    (
        "count in a ready pod without fresh metrics after initialization period - CPU",
        [_pod("bentham", NOW - 180, True, NOW - 180)],
        {"bentham": PodMetric(1, NOW - 120, 60.0)},
        True,
        1,
        set(),
        set(),
        set(),
    ),
    (
        "count in an unready pod that was ready after initialization period - CPU",
        [_pod("lucretius", NOW - 600, False, NOW - 540)],
        {"lucretius": PodMetric(1)},
        True,
        1,
        set(),
        set(),
        set(),
    ),
    (
        "unready pod that has never been ready after initialization period - CPU",
        [_pod("lucretius", NOW - 600, False, NOW - 590)],
        {"lucretius": PodMetric(1)},
        True,
        1,
        set(),
        set(),
        set(),
    ),
    (
        "a missing pod",
        [_pod("epicurus", NOW - 180, None)],
        {},
        True,
        0,
        set(),
        {"epicurus"},
        set(),
    ),
    (
        "several pods",
        [
            _pod("lucretius", NOW, None),
            _pod("niccolo", NOW - 180, True, NOW - 180),
            _pod("epicurus", NOW - 180, None),
        ],
        {"lucretius": PodMetric(1), "niccolo": PodMetric(1)},
        True,
        1,
        {"lucretius"},
        {"epicurus"},
        set(),
    ),
    (
        "pending pods are unreadied",
        [Pod("unscheduled", "Pending", None, 0.0, None)],
        {},
        True,
        0,
        {"unscheduled"},
        set(),
        set(),
    ),
    (
        "ignore pods with deletion timestamps",
        [Pod("deleted", "Pending", None, 0.0, None, deleting=True)],
        {"deleted": PodMetric(1)},
        True,
        0,
        set(),
        set(),
        {"deleted"},
    ),
    (
        "ignore pods in a failed state",
        [Pod("failed", "Failed", None, 0.0, None)],
        {"failed": PodMetric(1)},
        True,
        0,
        set(),
        set(),
        {"failed"},
    ),
]


@pytest.mark.parametrize(
    "pods, metrics, cpu, ready, unready, missing, ignored",
    [v[1:] for v in GROUP_VECTORS],
    ids=[v[0] for v in GROUP_VECTORS],
)
def test_upstream_group_pods_vectors(
    pods: list[Pod],
    metrics: dict[str, PodMetric],
    cpu: bool,
    ready: int,
    unready: set[str],
    missing: set[str],
    ignored: set[str],
) -> None:
    g = group_pods(
        pods,
        metrics,
        NOW,
        cpu=cpu,
        cpu_initialization_period=TEST_CPU_INIT,
        initial_readiness_delay=TEST_DELAY,
    )
    assert (g.ready, set(g.unready), set(g.missing), set(g.ignored)) == (
        ready,
        unready,
        missing,
        ignored,
    )


@pytest.mark.parametrize(
    "proposals, spec, expected",
    [
        ([4, None], 3, 4),  # TestScaleUpOneMetricEmpty: CPU says 4, the external metric fails
        ([3, None], 5, None),  # TestNoScaleDownOneMetricInvalid/Empty: no scale-down on a failure
        ([None, None], 3, None),  # every metric failed
        ([2, 7, 5], 4, 7),  # the largest proposal
        ([5, None], 5, 5),  # a failure with no scale-down proposed: keep going
    ],
)
def test_max_over_metrics_and_the_invalid_metric_rules(
    proposals: list[int | None], spec: int, expected: int | None
) -> None:
    assert replicas_for_metrics(proposals, spec) == expected


# -- legacy normalisation: upstream vectors ---------------------------------------------------


@pytest.mark.parametrize(
    "current, desired, lo, hi, expected",
    [
        (5, 7, 3, 8, 7),  # prenormalized desired replicas within range
        (3, 1, 2, 8, 2),  # prenormalized desired replicas < minReplicas
        (20, 1000, 1, 10, 10),  # maxReplicas is the limit because maxReplicas < scaleUpLimit
        (3, 1000, 1, 2000, 6),  # scaleUpLimit (max(2x3, 4)) is the limit
    ],
)
def test_upstream_convert_desired_replicas_with_rules(
    current: int, desired: int, lo: int, hi: int, expected: int
) -> None:
    # TestConvertDesiredReplicasWithRules (its minReplicas=0 case predates today's code).
    assert convert_with_rules(current, desired, lo, hi) == expected


@pytest.mark.parametrize(
    "recs, desired, expected, log_length",
    [
        ([], 5, 5, 1),  # empty log
        ([(4, NOW - 120), (5, NOW - 60)], 3, 5, 3),  # stabilize
        ([(1, NOW - 120), (2, NOW - 60)], 3, 3, 3),  # no stabilize
        ([(10, NOW - 600), (9, NOW - 540)], 3, 3, 2),  # no stabilize - old recommendations
        (
            [(10, NOW - 600), (4, NOW - 60), (5, NOW - 120), (9, NOW - 540)],
            3,
            5,
            4,
        ),  # stabilize - old recommendations
    ],
)
def test_upstream_normalize_desired_replicas(
    recs: list[tuple[int, float]], desired: int, expected: int, log_length: int
) -> None:
    # TestNormalizeDesiredReplicas (stabilizeRecommendation, 5 min window).
    got, log = stabilize_legacy(recs, desired, NOW, 300.0)
    assert (got, len(log)) == (expected, log_length)
    assert (desired, NOW) in log


def test_legacy_scale_up_limit_is_twice_current_or_four() -> None:
    assert [legacy_scale_up_limit(n) for n in (0, 1, 2, 3, 10)] == [4, 4, 4, 6, 20]


# -- behavior normalisation: upstream vectors -------------------------------------------------

DEFAULT_UP = Rules(
    0.0,
    "Max",
    (
        HpaPolicy(type="Pods", value=4, period=15.0),
        HpaPolicy(type="Percent", value=100, period=15.0),
    ),
)
DEFAULT_DOWN = Rules(300.0, "Max", (HpaPolicy(type="Percent", value=100, period=15.0),))


def rules(
    pods: int, pods_period: float, percent: int, percent_period: float, window: float
) -> Rules:
    """horizontal_test.go ``generateScalingRules`` (selectPolicy Max)."""
    policies = []
    if pods:
        policies.append(HpaPolicy(type="Pods", value=pods, period=pods_period))
    if percent:
        policies.append(HpaPolicy(type="Percent", value=percent, period=percent_period))
    return Rules(window, "Max", tuple(policies))


def uniform_events(changes: list[int], period: float) -> list[tuple[int, float]]:
    """horizontal_test.go ``generateEventsUniformDistribution``: events centred in equal
    segments of the last ``period`` seconds (oldest first)."""
    seg = period / len(changes)
    return [(c, NOW - int(period - seg * (i + 1) + seg / 2)) for i, c in enumerate(changes)]


# TestScalingWithRules: (name, ups, downs, min, max, up rules, down rules, current, desired, exp)
SCALING_WITH_RULES: list[
    tuple[
        str,
        list[tuple[int, float]],
        list[tuple[int, float]],
        int,
        int,
        Rules | None,
        Rules | None,
        int,
        int,
        int,
    ]
] = [
    ("desired within range", [], [], 3, 8, None, None, 5, 7, 7),
    ("desired < minReplicas", [], [], 2, 8, None, None, 3, 1, 2),
    ("desired within range when minReplicas is 0", [], [], 0, 10, None, None, 1, 0, 0),
    ("maxReplicas < scaleUpLimit", [], [], 1, 10, None, None, 20, 1000, 10),
    ("desired more than maximum", [], [], 100, 150, None, None, 100, 1000, 150),
    ("scaleUpLimit with user policies", [], [], 1, 2000, rules(0, 0, 1, 60, 0), None, 3, 1000, 4),
    (
        "scaleDownLimit with user policies",
        [],
        [],
        3,
        2000,
        None,
        rules(20, 60, 0, 0, 0),
        1000,
        3,
        980,
    ),
    ("scaleUp with default behavior", [], [], 1, 1000, None, None, 10, 50, 20),
    ("scaleUp pods > percent", [], [], 1, 1000, rules(100, 60, 100, 60, 0), None, 10, 500, 110),
    ("scaleUp percent > pods", [], [], 1, 1000, rules(2, 60, 100, 60, 0), None, 10, 500, 20),
    ("scaleUp max, large pod policy", [], [], 1, 1000, rules(100, 60, 0, 0, 0), None, 10, 50, 50),
    ("scaleUp max, large percent", [], [], 1, 1000, rules(10000, 60, 0, 0, 0), None, 10, 50, 50),
    ("scaleUp pod policy limitation", [], [], 1, 1000, rules(30, 60, 0, 0, 0), None, 10, 50, 40),
    ("scaleUp percent limitation", [], [], 1, 1000, rules(0, 0, 200, 60, 0), None, 10, 50, 30),
    ("scaleDown percent > pods", [], [], 1, 1000, None, rules(20, 60, 1, 60, 300), 100, 2, 80),
    ("scaleDown pods > percent", [], [], 1, 1000, None, rules(2, 60, 1, 60, 300), 100, 2, 98),
    ("scaleDown min, large pod policy", [], [], 1, 1000, None, rules(100, 60, 0, 0, 300), 10, 0, 1),
    ("scaleDown min, large percent", [], [], 5, 1000, None, rules(0, 0, 100, 60, 300), 10, 2, 5),
    ("scaleDown pod policy limitation", [], [], 1, 1000, None, rules(5, 60, 0, 0, 300), 10, 2, 5),
    ("scaleDown percent limitation", [], [], 1, 1000, None, rules(0, 0, 50, 60, 300), 10, 5, 5),
    (
        "scaleUp max, large pod policy and events",
        uniform_events([1, 5, 9], 120),
        [],
        1,
        200,
        rules(300, 60, 0, 0, 0),
        None,
        100,
        500,
        200,
    ),
    (
        "scaleUp max, large percent policy and events",
        uniform_events([1, 5, 9], 120),
        [],
        1,
        200,
        rules(0, 0, 10000, 60, 0),
        None,
        100,
        500,
        200,
    ),
    (
        "scaleUp currentReplicas limitation with many recent scale-up events",
        uniform_events([1, 5, 9], 120),
        [],
        1,
        1000,
        rules(5, 120, 0, 0, 0),
        None,
        100,
        500,
        100,
    ),
    (
        "scaleUp pod policy and previous scale-up events",
        uniform_events([1, 5, 9], 120),
        [],
        1,
        1000,
        rules(150, 120, 0, 0, 0),
        None,
        100,
        500,
        235,
    ),
    (
        "scaleUp percent policy and previous scale-up events",
        uniform_events([1, 5, 9], 120),
        [],
        1,
        1000,
        rules(0, 0, 200, 120, 0),
        None,
        100,
        500,
        255,
    ),
    (
        "scaleUp percent policy and previous up and down events",
        uniform_events([4], 120),
        uniform_events([2], 120),
        1,
        1000,
        rules(0, 0, 300, 300, 0),
        None,
        6,
        24,
        16,
    ),
    (
        "scaleDown default policy and previous events",
        [],
        uniform_events([1, 5, 9], 120),
        1,
        1000,
        None,
        None,
        10,
        5,
        5,
    ),
    (
        "scaleDown min, large pod policy and previous events",
        [],
        uniform_events([1, 5, 9], 120),
        1,
        1000,
        None,
        rules(115, 120, 0, 0, 300),
        100,
        0,
        1,
    ),
    (
        "scaleDown min 5, large pod policy and previous events",
        [],
        uniform_events([1, 5, 9], 120),
        5,
        1000,
        None,
        rules(130, 120, 0, 0, 300),
        100,
        0,
        5,
    ),
    (
        "scaleDown min 5, large percent policy and previous events",
        [],
        uniform_events([1, 5, 9], 120),
        5,
        1000,
        None,
        rules(0, 0, 100, 120, 300),
        100,
        2,
        5,
    ),
    (
        "scaleDown pod policy limitation and previous events",
        [],
        uniform_events([1, 5, 9], 120),
        1,
        1000,
        None,
        rules(5, 120, 0, 0, 300),
        100,
        2,
        100,
    ),
    (
        "scaleDown percent policy limitation and previous events",
        [],
        uniform_events([2, 4, 6], 120),
        1,
        1000,
        None,
        rules(0, 0, 50, 120, 300),
        100,
        0,
        56,
    ),
    (
        "scaleDown percent policy and previous up and down events",
        uniform_events([2], 120),
        uniform_events([4], 120),
        1,
        1000,
        None,
        rules(0, 0, 50, 180, 0),
        10,
        1,
        6,
    ),
    (
        "scaleDown previous events preventing further scale down",
        [],
        uniform_events([10, 10, 10], 120),
        1,
        1000,
        None,
        rules(0, 0, 10, 120, 300),
        100,
        0,
        100,
    ),
    (
        "scaleDown previous events still allowing more scale down",
        [],
        uniform_events([10, 10, 10], 120),
        1,
        1000,
        None,
        rules(0, 0, 1000, 120, 300),
        10,
        5,
        5,
    ),
    (
        "outdated events, one policy, up",
        uniform_events([8, 12, 9, 11], 120),
        [],
        1,
        1000,
        rules(1000, 60, 0, 0, 0),
        None,
        100,
        200,
        200,
    ),
    (
        "outdated events, two policies, up",
        uniform_events([8, 12, 9, 11], 120),
        [],
        1,
        1000,
        rules(1000, 30, 100, 60, 0),
        None,
        100,
        200,
        200,
    ),
    (
        "outdated events, two policies, down",
        [],
        uniform_events([8, 12, 9, 11], 120),
        1,
        1000,
        None,
        rules(1000, 30, 100, 60, 300),
        100,
        5,
        5,
    ),
]


@pytest.mark.parametrize(
    "ups, downs, lo, hi, up, down, current, desired, expected",
    [v[1:] for v in SCALING_WITH_RULES],
    ids=[v[0] for v in SCALING_WITH_RULES],
)
def test_upstream_scaling_with_rules(
    ups: list[tuple[int, float]],
    downs: list[tuple[int, float]],
    lo: int,
    hi: int,
    up: Rules | None,
    down: Rules | None,
    current: int,
    desired: int,
    expected: int,
) -> None:
    behavior = Behavior(up or DEFAULT_UP, down or DEFAULT_DOWN)
    got = convert_with_behavior_rate(current, desired, lo, hi, ups, downs, behavior, NOW)
    assert got == expected


# TestNormalizeDesiredReplicasWithBehavior: (recs, current, desired, expected, log, up w, down w)
STABILIZE_WITH_BEHAVIOR: list[
    tuple[str, list[tuple[int, float]], int, int, int, list[int] | None, float, float]
] = [
    ("empty recommendations for scaling down", [], 100, 5, 5, [5], 0, 0),
    (
        "simple scale down stabilization",
        [(4, NOW - 120), (5, NOW - 60)],
        100,
        3,
        5,
        [4, 5, 3],
        0,
        180,
    ),
    ("simple scale up stabilization", [(4, NOW - 120), (5, NOW - 60)], 1, 7, 4, [4, 5, 7], 300, 0),
    ("no scale down stabilization", [(1, NOW - 120), (2, NOW - 60)], 100, 3, 3, [1, 2, 3], 300, 0),
    ("no scale up stabilization", [(4, NOW - 120), (5, NOW - 60)], 1, 3, 3, [4, 5, 3], 0, 300),
    (
        "no scale down stabilization, reuse recommendation element",
        [(10, NOW - 600), (9, NOW - 540)],
        100,
        3,
        3,
        [10, 3],
        0,
        0,
    ),
    (
        "no scale up stabilization, reuse recommendation element",
        [(10, NOW - 600), (9, NOW - 540)],
        1,
        100,
        100,
        [10, 100],
        0,
        0,
    ),
    (
        "scale down stabilization, reuse one of obsolete recommendation element",
        [(10, NOW - 600), (4, NOW - 60), (5, NOW - 120), (9, NOW - 540)],
        100,
        3,
        5,
        [10, 4, 5, 3],
        0,
        180,
    ),
    (
        "scale up stabilization, reuse one of obsolete recommendation element",
        [(10, NOW - 6000), (6, NOW - 60), (5, NOW - 120), (9, NOW - 180)],
        1,
        100,
        5,
        [100, 6, 5, 9],
        300,
        0,
    ),
    (
        "do not scale up when prenormalized rec goes down",
        [(2, NOW - 6000), (3, NOW - 180)],
        2,
        1,
        2,
        None,
        300,
        300,
    ),
    (
        "do not scale down when prenormalized rec goes up",
        [(2, NOW - 6000), (1, NOW - 180)],
        2,
        3,
        2,
        None,
        300,
        300,
    ),
]


@pytest.mark.parametrize(
    "recs, current, desired, expected, log, up_window, down_window",
    [v[1:] for v in STABILIZE_WITH_BEHAVIOR],
    ids=[v[0] for v in STABILIZE_WITH_BEHAVIOR],
)
def test_upstream_normalize_desired_replicas_with_behavior(
    recs: list[tuple[int, float]],
    current: int,
    desired: int,
    expected: int,
    log: list[int] | None,
    up_window: float,
    down_window: float,
) -> None:
    got, new_log = stabilize_with_behavior(recs, desired, current, NOW, up_window, down_window)
    assert got == expected
    if log is not None:
        assert [r for r, _ in new_log] == log


def test_upstream_scale_limits_with_select_policy_min() -> None:
    # TestCalculateScaleUpLimitWithScalingRules / TestCalculateScaleDownLimitWithBehaviors.
    r = Rules(
        300.0,
        "Min",
        (
            HpaPolicy(type="Pods", value=2, period=60.0),
            HpaPolicy(type="Percent", value=50, period=60.0),
        ),
    )
    assert scale_up_limit(1, [], [], r, NOW) == 2
    assert scale_down_limit(5, [], [], r, NOW) == 3


@pytest.mark.parametrize(
    "prev, longest, change_in_60s, new",
    [
        ([(7, NOW - 61)], 60, 0, [5]),  # one outdated entry to be replaced
        ([(7, NOW - 58)], 60, 7, [7, 5]),  # one actual entry to be not touched
        ([(7, NOW - 61), (6, NOW - 59)], 60, 6, [5, 6]),  # two entries, one replaced
        (
            [(8, NOW - 29), (6, NOW - 59), (7, NOW - 61), (9, NOW - 61)],
            60,
            14,
            [8, 6, 7, 5],
        ),  # replace one entry, policies with different periods
        ([(7, NOW - 58), (6, NOW - 59)], 120, 13, [7, 6, 5]),  # two entries, both actual
    ],
)
def test_upstream_store_scale_events(
    prev: list[tuple[int, float]], longest: float, change_in_60s: int, new: list[int]
) -> None:
    # TestStoreScaleEvents: a change of 5 stored over the last outdated event, or appended.
    assert replicas_change_in_period(prev, 60.0, NOW) == change_in_60s
    assert [c for c, _ in store_scale_event(prev, 5, NOW, longest)] == new


# -- decide(): the worked examples and one test per config key --------------------------------


def hpa(**kw: Any) -> HpaAutoscaler:
    return HpaAutoscaler.model_validate({"kind": "hpa", "max": 100, **kw})


def cpu_obs(
    usages: list[int],
    *,
    request: int = 1000,
    now: float = NOW,
    current: int | None = None,
    pods: list[Pod] | None = None,
    window: float = 15.0,
) -> Observation:
    """Ready pods started long ago, each with a CPU usage (millicores) ending ``now``."""
    if pods is None:
        pods = [Pod(f"p{i}", "Running", True, 0.0, 0.0) for i in range(len(usages))]
    return Observation(
        current=len(pods) if current is None else current,
        pods=pods,
        cpu={p.name: PodMetric(u, now, window) for p, u in zip(pods, usages, strict=False)},
        requests={p.name: request for p in pods},
    )


def needing(replicas: int, current: int, target: int = 50) -> Observation:
    """``current`` pods whose CPU makes the metric propose exactly ``replicas``."""
    util = replicas * target // current  # floor: ceil(util / target * current) == replicas
    return cpu_obs([util * 10] * current)


def trace(
    config: HpaAutoscaler, start: int, demand: Any, times: list[float]
) -> list[tuple[float, int]]:
    """Run ``decide`` at ``times`` with the replica count following its decisions;
    ``demand(current, t)`` gives the observation. Returns ``(time, applied)`` changes."""
    state, current, out = HpaState(), start, []
    for t in times:
        d = decide(config, demand(current, t), state, t)
        if d is not None and d.applied != current:
            current = d.applied
            out.append((t, current))
    return out


def proposed(config: HpaAutoscaler, obs: Observation) -> int:
    """The metrics' proposal of one sync from a fresh state."""
    d = decide(config, obs, HpaState(), NOW)
    assert d is not None
    return d.desired


SYNCS = [15.0 * k for k in range(1, 41)]  # every 15 s for 10 minutes


def test_worked_example_default_behavior_scales_up_1_5_10_20_40() -> None:
    # Reference §1.8: Pods 4 / Percent 100 per 15 s, Max; the event of the previous sync
    # is exactly 15 s old, so it no longer counts.
    cfg = hpa(target_cpu="50%", behavior={})
    assert trace(cfg, 1, lambda n, t: needing(40, n), SYNCS[:6]) == [
        (15.0, 5),
        (30.0, 10),
        (45.0, 20),
        (60.0, 40),
    ]
    assert trace(cfg, 3, lambda n, t: needing(40, n), SYNCS[:6]) == [
        (15.0, 7),
        (30.0, 14),
        (45.0, 28),
        (60.0, 40),
    ]


def test_worked_example_percent_10_per_60s_scales_down_80_72_64() -> None:
    # Docs "scaleDown: Percent 10 / 60 s": int(80 x 0.9) = 72, held for 60 s, then int(72 x 0.9).
    cfg = hpa(
        target_cpu="50%",
        behavior={
            "scale_down": {
                "stabilization_window": 0,
                "policies": [{"type": "Percent", "value": 10, "period": "60s"}],
            }
        },
    )
    got = trace(cfg, 80, lambda n, t: needing(10, n), SYNCS[:12])
    assert got == [(15.0, 72), (75.0, 64), (135.0, 57)]


def test_tolerance_ratio_105_holds_111_scales() -> None:
    cfg = hpa(target_cpu="100%")
    hold = decide(cfg, cpu_obs([1050] * 10), HpaState(), NOW)
    assert hold is not None and (hold.desired, hold.applied) == (10, 10)
    up = decide(cfg, cpu_obs([1110] * 10), HpaState(), NOW)
    assert up is not None and (up.metric_value, up.desired, up.applied) == (111.0, 12, 12)
    # the band is inclusive: 1.05 with tolerance 0.05 holds, 1.06 does not
    narrow = hpa(target_cpu="100%", tolerance="5%")
    assert proposed(narrow, cpu_obs([1050] * 10)) == 10
    assert proposed(narrow, cpu_obs([1060] * 10)) == 11
    wide = hpa(target_cpu="100%", tolerance="20%")
    assert proposed(wide, cpu_obs([1110] * 10)) == 10


def test_per_direction_tolerances() -> None:
    up_only = hpa(target_cpu="100%", tolerance_up="20%")
    assert proposed(up_only, cpu_obs([1150] * 10)) == 10
    assert proposed(up_only, cpu_obs([850] * 10)) == 9
    down_only = hpa(target_cpu="100%", tolerance_down="20%")
    assert proposed(down_only, cpu_obs([850] * 10)) == 10
    assert proposed(down_only, cpu_obs([1150] * 10)) == 12
    assert up_only.tolerances() == Tolerances(down=0.1, up=0.2)


def _fresh_pod_obs() -> Observation:
    # Two old pods at 100 %, one pod created 100 s ago, ready 10 s ago, at 0 %: its 15-s
    # metric window began before it was ready.
    pods = [
        Pod("old0", "Running", True, 0.0, 0.0),
        Pod("old1", "Running", True, 0.0, 0.0),
        Pod("new", "Running", True, NOW - 10, NOW - 100),
    ]
    return cpu_obs([1000, 1000, 0], pods=pods)


def test_cpu_initialization_period_treats_a_just_ready_pod_as_unready() -> None:
    # Within the 5-min period the new pod is unready: ratio 2 counting only the old pods,
    # rebalanced with the new one at 0 -> 1.33 x 3 = 4.
    d = decide(hpa(target_cpu="50%"), _fresh_pod_obs(), HpaState(), NOW)
    assert d is not None and d.desired == 4
    # With a 60-s period the new pod (started 100 s ago) counts, at 0 %: 2000/3000 -> 66 %.
    d = decide(
        hpa(target_cpu="50%", cpu_initialization_period="60s"), _fresh_pod_obs(), HpaState(), NOW
    )
    assert d is not None and (d.metric_value, d.desired) == (66.0, 4)
    obs = _fresh_pod_obs()
    assert group_pods(obs.pods, obs.cpu, NOW).unready == {"new"}
    assert group_pods(obs.pods, obs.cpu, NOW, cpu_initialization_period=60).unready == set()


def test_cpu_initialization_counts_a_pod_once_a_full_window_follows_readiness() -> None:
    pods = [Pod("p", "Running", True, NOW - 15, NOW - 100)]
    assert group_pods(pods, {"p": PodMetric(1, NOW, 15.0)}, NOW).ready == 1
    assert group_pods(pods, {"p": PodMetric(1, NOW, 15.1)}, NOW).unready == {"p"}


def _unready_since_start_obs() -> Observation:
    # Past the CPU initialisation period, one pod is Running but not Ready since 10 s after
    # it started (it never became ready), reporting a misleading 0.
    pods = [
        Pod("a", "Running", True, 0.0, 0.0),
        Pod("b", "Running", True, 0.0, 0.0),
        Pod("c", "Running", False, NOW - 590, NOW - 600),
    ]
    return cpu_obs([1000, 1000, 0], pods=pods)


def test_initial_readiness_delay_ignores_pods_that_never_became_ready() -> None:
    # Delay 30 s: 'c' went unready within 30 s of starting -> unready, ignored;
    # ratio 2 -> rebalanced with 'c' at 0 -> 1.33 x 3 = 4.
    d = decide(hpa(target_cpu="50%"), _unready_since_start_obs(), HpaState(), NOW)
    assert d is not None and (d.metric_value, d.desired) == (100.0, 4)
    # Delay 5 s: 'c' became unready later than that -> it counts with its 0: 66 % -> 4 x ...
    d = decide(
        hpa(target_cpu="50%", initial_readiness_delay="5s"),
        _unready_since_start_obs(),
        HpaState(),
        NOW,
    )
    assert d is not None and (d.metric_value, d.desired) == (66.0, 4)
    obs = _unready_since_start_obs()
    assert group_pods(obs.pods, obs.cpu, NOW).unready == {"c"}
    assert group_pods(obs.pods, obs.cpu, NOW, initial_readiness_delay=5).unready == set()


def test_legacy_scale_up_is_capped_at_twice_current_or_four_per_sync() -> None:
    cfg = hpa(target_cpu="50%")
    got = trace(cfg, 1, lambda n, t: needing(40, n), SYNCS[:6])
    assert got == [(15.0, 4), (30.0, 8), (45.0, 16), (60.0, 32), (75.0, 40)]


def test_legacy_down_stabilisation_holds_the_max_of_the_last_300s() -> None:
    # At 15 s the first sync records the current 10; then the load needs 8 until 60 s and 2
    # after. The highest recommendation not older than 300 s wins (one exactly 300 s old
    # still counts): 10 until 315 s, 8 until 345 s (the 8 of 45 s is old at 360 s), then 2.
    cfg = hpa(target_cpu="50%")

    def demand(n: int, t: float) -> Observation:
        return needing(8 if t <= 45 else 2, n)

    assert trace(cfg, 10, demand, SYNCS[:26]) == [(330.0, 8), (360.0, 2)]
    short = hpa(target_cpu="50%", downscale_stabilization="60s")
    assert trace(short, 10, demand, SYNCS[:26]) == [(90.0, 8), (120.0, 2)]


def test_behavior_scale_down_window_defaults_to_downscale_stabilization() -> None:
    # behavior given without a scale-down window: the controller flag's value is used;
    # a recommendation exactly the window old no longer counts on this path.
    def demand(n: int, t: float) -> Observation:
        return needing(8 if t <= 45 else 2, n)

    assert trace(hpa(target_cpu="50%", behavior={}), 10, demand, SYNCS[:26]) == [
        (315.0, 8),
        (345.0, 2),
    ]
    cfg = hpa(target_cpu="50%", behavior={}, downscale_stabilization="60s")
    assert trace(cfg, 10, demand, SYNCS[:26]) == [(75.0, 8), (105.0, 2)]
    explicit = hpa(
        target_cpu="50%",
        downscale_stabilization="60s",
        behavior={"scale_down": {"stabilization_window": "30s"}},
    )
    assert trace(explicit, 10, demand, SYNCS[:26]) == [(45.0, 8), (75.0, 2)]


def test_behavior_scale_up_stabilization_window() -> None:
    # Scale up only to the lowest recommendation of the last 60 s. The load needs 4 at 15 s
    # and 12 from 30 s on, but the first sync also recorded the current count (2, at 15 s):
    # it holds 2 until it is exactly 60 s old at 75 s (excluded); then 12, rate-limited by
    # the default policies: 2 -> max(2 + 4, 2 x 2) = 6, then 6 -> 12.
    cfg = hpa(target_cpu="50%", behavior={"scale_up": {"stabilization_window": "60s"}})

    def demand(n: int, t: float) -> Observation:
        return needing(4 if t <= 15 else 12, n)

    assert trace(cfg, 2, demand, SYNCS[:6]) == [(75.0, 6), (90.0, 12)]
    assert trace(hpa(target_cpu="50%", behavior={}), 2, demand, SYNCS[:6]) == [
        (15.0, 4),
        (30.0, 8),
        (45.0, 12),
    ]


@pytest.mark.parametrize(
    "select, up_trace, down_trace",
    [
        ("Max", [(15.0, 15), (75.0, 23)], [(15.0, 10), (75.0, 5)]),
        ("Min", [(15.0, 14), (75.0, 18)], [(15.0, 16), (75.0, 12)]),
        ("Disabled", [], []),
    ],
)
def test_select_policy_max_min_disabled(
    select: str, up_trace: list[tuple[float, int]], down_trace: list[tuple[float, int]]
) -> None:
    # Pods 4 / 60 s and Percent 50 / 60 s from 10 (up) or 20 (down), windows 0.
    policies = [
        {"type": "Pods", "value": 4, "period": "60s"},
        {"type": "Percent", "value": 50, "period": "60s"},
    ]
    rules_ = {"stabilization_window": 0, "select_policy": select, "policies": policies}
    cfg = hpa(target_cpu="50%", behavior={"scale_up": rules_, "scale_down": rules_})
    assert trace(cfg, 10, lambda n, t: needing(40, n), SYNCS[:6]) == up_trace
    assert trace(cfg, 20, lambda n, t: needing(1, n), SYNCS[:6]) == down_trace


def test_pods_policy_value_and_period() -> None:
    cfg = hpa(
        target_cpu="50%",
        behavior={"scale_up": {"policies": [{"type": "Pods", "value": 3, "period": "30s"}]}},
    )
    assert trace(cfg, 2, lambda n, t: needing(20, n), SYNCS[:8]) == [
        (15.0, 5),
        (45.0, 8),
        (75.0, 11),
        (105.0, 14),
    ]


def test_min_and_max_clamps() -> None:
    cfg = hpa(target_cpu="50%", min=3, max=10)
    # current above max / below min: set to the bound without reading metrics
    d = decide(cfg, cpu_obs([0] * 12), HpaState(), NOW)
    assert d is not None and (d.desired, d.applied, d.reason) == (10, 10, "current above max")
    d = decide(cfg, cpu_obs([0] * 2), HpaState(), NOW)
    assert d is not None and (d.desired, d.applied, d.reason) == (3, 3, "current below min")
    # metrics below min / above max are clamped after stabilisation
    d = decide(cfg, needing(1, 5), HpaState([(1, NOW - 400)]), NOW)
    assert d is not None and (d.desired, d.applied) == (1, 3)
    d = decide(cfg, needing(40, 8), HpaState(), NOW)
    assert d is not None and (d.desired, d.applied) == (40, 10)
    b = hpa(target_cpu="50%", min=3, max=10, behavior={"scale_down": {"stabilization_window": 0}})
    d = decide(b, needing(1, 5), HpaState(), NOW)
    assert d is not None and (d.desired, d.applied) == (1, 3)
    d = decide(b, needing(40, 8), HpaState(), NOW)
    assert d is not None and (d.desired, d.applied) == (40, 10)


def test_min_defaults_to_1_and_a_target_scaled_to_zero_is_left_alone() -> None:
    cfg = hpa(target_cpu="50%", behavior={"scale_down": {"stabilization_window": 0}})
    d = decide(cfg, needing(0, 4), HpaState(), NOW)
    assert cfg.min == 1 and d is not None and d.applied == 1
    assert decide(cfg, Observation(current=0), HpaState(), NOW) is None  # ScalingDisabled


def test_target_cpu_and_its_default_of_80_percent() -> None:
    obs = cpu_obs([1200] * 4)  # 120 %
    assert proposed(hpa(target_cpu="60%"), obs) == 8
    assert proposed(hpa(target_cpu="40%"), obs) == 12
    default = hpa()
    assert [(m.type, m.target) for m in default.metric_specs()] == [("cpu", 80.0)]
    assert proposed(default, obs) == 6


def test_rps_metric_is_an_average_value_per_pod() -> None:
    pods = [Pod(f"p{i}", "Running", True, 0.0, 0.0) for i in range(4)]
    obs = Observation(4, pods, rps={p.name: PodMetric(milli(30.0), NOW, 15.0) for p in pods})
    d = decide(hpa(metrics=[{"type": "rps", "target": 20}]), obs, HpaState(), NOW)
    assert d is not None and (d.metric, d.metric_value, d.desired) == ("rps_per_pod", 30.0, 6)
    d = decide(hpa(metrics=[{"type": "rps", "target": "600/min"}]), obs, HpaState(), NOW)
    assert d is not None and d.desired == 12


def test_latency_metric_is_an_external_value_times_ready_pods() -> None:
    pods = [Pod(f"p{i}", "Running", True, 0.0, 0.0) for i in range(3)]
    pods.append(Pod("starting", "Pending", False, 0.0, 0.0))
    obs = Observation(4, pods, latency={"latency_p95": 0.45, "latency_p99": 0.9})
    d = decide(hpa(metrics=[{"type": "latency_p95", "target": "300ms"}]), obs, HpaState(), NOW)
    # ratio 450 / 300 = 1.5 over the 3 ready pods (the pending one does not count)
    assert d is not None and (d.metric, d.metric_value, d.desired) == ("latency_p95_s", 0.45, 5)
    d = decide(hpa(metrics=[{"type": "latency_p99", "target": "300ms"}]), obs, HpaState(), NOW)
    assert d is not None and d.desired == 9


def test_several_metrics_take_the_max_and_a_failed_one_blocks_scale_down() -> None:
    obs = cpu_obs([1000] * 4)
    obs = Observation(4, obs.pods, obs.cpu, obs.requests, latency={"latency_p95": 0.9})
    cfg = hpa(target_cpu="50%", metrics=[{"type": "latency_p95", "target": "300ms"}])
    d = decide(cfg, obs, HpaState(), NOW)
    assert d is not None and (d.metric, d.desired) == ("latency_p95_s", 12)  # 3 x 4 > 2 x 4
    no_data = Observation(4, obs.pods, obs.cpu, obs.requests, latency={"latency_p95": math.nan})
    d = decide(cfg, no_data, HpaState(), NOW)
    assert d is not None and (d.metric, d.desired) == ("cpu_pct", 8)  # scale-up goes ahead
    idle = cpu_obs([100] * 4)
    idle = Observation(4, idle.pods, idle.cpu, idle.requests)
    assert decide(cfg, idle, HpaState(), NOW) is None  # would scale down: blocked


# -- config ----------------------------------------------------------------------------------


def experiment(autoscaler: dict[str, Any], **platform: Any) -> dict[str, Any]:
    return {
        "name": "hpa-config",
        "horizon": "60s",
        "workload": {
            "arrivals": {"kind": "constant", "rate": "1/s"},
            "service_time": {"kind": "fixed", "value": "100ms"},
        },
        "scenarios": [
            {
                "name": "k8s",
                "platform": {"kind": "container", "initial": 2, **platform},
                "autoscaler": autoscaler,
            }
        ],
    }


def test_design_contract_form_validates_as_written() -> None:
    exp = simulator.load_experiment(
        experiment({"kind": "hpa", "target_cpu": "60%", "min": 2, "max": 60})
    )
    cfg = exp.scenarios[0].autoscaler
    assert isinstance(cfg, HpaAutoscaler)
    assert (cfg.min, cfg.max, cfg.target_cpu, cfg.behavior) == (2, 60, 60, None)
    assert [(m.type, m.target) for m in cfg.metric_specs()] == [("cpu", 60.0)]
    assert "hpa" in AUTOSCALERS.kinds()


def test_defaults_are_the_upstream_ones_and_cited() -> None:
    cfg = hpa()
    assert (cfg.min, cfg.sync_period, cfg.tolerance) == (1, 15.0, 0.1)
    assert (cfg.cpu_initialization_period, cfg.initial_readiness_delay) == (300.0, 30.0)
    assert cfg.downscale_stabilization == 300.0
    assert cfg.resolved_behavior() is None
    assert hpa(behavior={}).resolved_behavior() == Behavior(DEFAULT_UP, DEFAULT_DOWN)
    partial = hpa(behavior={"scale_up": {"select_policy": "Min"}}).resolved_behavior()
    assert partial == Behavior(Rules(0.0, "Min", DEFAULT_UP.policies), DEFAULT_DOWN)
    cited = {f.name for f in CATALOG if f.family == "hpa"}
    assert {"sync period", "tolerance", "downscale stabilization", "minReplicas"} <= cited


@pytest.mark.parametrize(
    "text, percent",
    [("60%", 60), ("150%", 150), (0.6, 60), ("0.8", 80), (1, 100), ("5 %", 5)],
)
def test_parse_percent(text: Any, percent: int) -> None:
    assert parse_percent(text) == percent


def test_metric_targets_parse_by_type() -> None:
    cfg = hpa(
        metrics=[
            {"type": "cpu", "target": "70%"},
            {"type": "rps", "target": "120/min"},
            {"type": "latency_p95", "target": "300ms"},
        ]
    )
    assert [(m.name, m.target) for m in cfg.metric_specs()] == [
        ("cpu_pct", 70.0),
        ("rps_per_pod", 2.0),
        ("latency_p95_s", 0.3),
    ]


def problems(autoscaler: dict[str, Any]) -> str:
    with pytest.raises(InputError) as info:
        simulator.load_experiment(experiment(autoscaler))
    return "\n".join(info.value.problems)


@pytest.mark.parametrize(
    "extra, path, message",
    [
        ({"min": 5, "max": 3}, "autoscaler.max", "below min"),
        ({"min": 0}, "autoscaler.min", "greater than or equal to 1"),
        ({"target_cpu": 60}, "autoscaler.target_cpu", "write '60%'"),
        ({"target_cpu": "60.5%"}, "autoscaler.target_cpu", "whole percent"),
        ({"target_cpu": "0%"}, "autoscaler.target_cpu", "above 0%"),
        (
            {"target_cpu": "60%", "metrics": [{"type": "cpu", "target": "50%"}]},
            "autoscaler.target_cpu",
            "once",
        ),
        ({"metrics": [{"type": "memory", "target": 1}]}, "autoscaler.metrics[0].type", "'cpu'"),
        ({"metrics": [{"type": "rps", "target": "fast"}]}, "autoscaler.metrics[0].target", "rate"),
        (
            {"metrics": [{"type": "latency_p95", "target": "0ms"}]},
            "autoscaler.metrics[0].target",
            "above 0",
        ),
        ({"metrics": []}, "autoscaler.metrics", "at least 1"),
        ({"tolerance": "150%"}, "autoscaler.tolerance", "between 0% and 100%"),
        ({"sync_period": "0s"}, "autoscaler.sync_period", "greater than 0"),
        (
            {"behavior": {"scale_up": {"select_policy": "Maximum"}}},
            "autoscaler.behavior.scale_up.select_policy",
            "'Max'",
        ),
        (
            {"behavior": {"scale_down": {"stabilization_window": "2h"}}},
            "autoscaler.behavior.scale_down.stabilization_window",
            "3600",
        ),
        (
            {
                "behavior": {
                    "scale_up": {"policies": [{"type": "Pods", "value": 1, "period": "31m"}]}
                }
            },
            "autoscaler.behavior.scale_up.policies[0].period",
            "1800",
        ),
        (
            {
                "behavior": {
                    "scale_up": {"policies": [{"type": "Pods", "value": 0, "period": "1m"}]}
                }
            },
            "autoscaler.behavior.scale_up.policies[0].value",
            "greater than 0",
        ),
        (
            {"behavior": {"scale_up": {"policies": []}}},
            "autoscaler.behavior.scale_up.policies",
            "at least 1",
        ),
        (
            {"behavior": {"scale_sideways": {}}},
            "autoscaler.behavior.scale_sideways",
            "unknown field",
        ),
    ],
)
def test_bad_config_names_the_field(extra: dict[str, Any], path: str, message: str) -> None:
    out = problems({"kind": "hpa", "max": 10, **extra})
    assert f"scenarios[0].{path}: " in out and message in out, out


# -- the metrics a pod reports ---------------------------------------------------------------


def test_pod_cpu_is_busy_workers_times_their_cores_capped_by_the_limit() -> None:
    assert pod_cpu_millis(1.0, 4) == 4000
    assert pod_cpu_millis(0.5, 4) == 2000
    assert pod_cpu_millis(1.0, 4, limit_m=500) == 500  # CFS quota: 0.5 core in all
    assert pod_cpu_millis(0.3, 1) == 300  # float noise does not round 300.00000000000006 up
    assert pod_cpu_millis(0.3001, 1) == 301  # MilliValue rounds up
    assert milli(0.3) == 300


# -- whole runs ------------------------------------------------------------------------------

POD_STAGES = {
    "create": {"duration": {"kind": "fixed", "value": "1s"}},
    "start": {"duration": {"kind": "fixed", "value": "2s"}},
    "app_start": {"duration": {"kind": "fixed", "value": "4s"}},
}


def step_run(
    autoscaler: dict[str, Any], horizon: str = "600s", **platform: Any
) -> simulator.Results:
    """Containers (a new pod is ready 13 s after it is asked for: create 1 s, start 2 s,
    first probe 10 s after start), one worker each, 100 ms per request, 2 queued at most;
    no traffic, then 500/s from 45 s to 195 s (every ready pod saturated at once), then none.
    The load changes on scrape instants, so every 15-s window is all idle or all busy."""
    plat = {
        "kind": "container",
        "initial": 1,
        "nodes": 10,
        "image_pull": "0s",
        "stages": POD_STAGES,
        "readiness": {"initial_delay": "0s", "period": "10s"},
        **platform,
    }
    doc = {
        "name": "hpa-step",
        "seed": 3,
        "horizon": horizon,
        "workload": {
            "arrivals": {
                "kind": "step",
                "initial": "0/s",
                "steps": [{"at": "45s", "rate": "500/s"}, {"at": "195s", "rate": "0/s"}],
            },
            "service_time": {"kind": "fixed", "value": "100ms"},
        },
        "scenarios": [
            {
                "name": "k8s",
                "platform": plat,
                "serving": {"workers": 1, "queue_limit": 2},
                "autoscaler": autoscaler,
            }
        ],
    }
    return simulator.run(simulator.load_experiment(doc))


def rows(res: simulator.Results) -> list[tuple[float, float, int, int, int]]:
    t = res.tables["scaling"]
    assert set(t["controller"]) == {"hpa"}
    return [
        (r["time_s"], r["metric_value"], r["current"], r["desired"], r["applied"])
        for r in t.to_dict("records")
    ]


# A saturated pod uses 1000m of its 500m request: 200 %, ratio 4 at a 50 % target.
# Hand computation (legacy path, max 10):
#   15 s   idle: proposal 0, held at 1 by the first recommendation (1, 15 s)
#   60 s   window 45-60 s saturated: 200 % -> 4 x 1 = 4 (cap max(2, 4) = 4)          -> 4
#   75 s   3 new pods ready at 73 s: their window began before -> unready; rebalanced
#          (1000 + 0 + 0 + 0) / 2000 = 50 % -> ratio 1: no change, no row
#   90 s   all 4 saturated: 4 x 4 = 16, cap max(8, 4) = 8                            -> 8
#  105 s   4 ready + 4 unready: 4000 / 4000 = 100 % -> 2 x 8 = 16, max 10             -> 10
#  120 s   8 ready + 2 unready: 8000 / 5000 = 160 % -> 32, held at max 10
#  135 s   10 saturated: 4 x 10 = 40, still held up at 10: no new row (until 195 s)
#  210 s   the queues drain within 0.3 s of 195 s: 2 % -> 1; stabilised to 40, max 10
#  225 s   idle: 0, still held down at 10: no new row
#  510 s   the 40 of 195 s is older than 300 s (the one of exactly 300 s counted at 495 s);
#          the highest left is 1 (210 s) -> min 1                                      -> 1
#  525 s   0 proposed, held at min 1
LEGACY_TRACE = [
    (15.0, 0.0, 1, 0, 1),
    (60.0, 200.0, 1, 4, 4),
    (90.0, 200.0, 4, 16, 8),
    (105.0, 200.0, 8, 16, 10),
    (120.0, 200.0, 10, 32, 10),
    (210.0, 2.0, 10, 1, 10),
    (510.0, 0.0, 10, 0, 1),
    (525.0, 0.0, 1, 0, 1),
]


def test_whole_run_step_load_legacy_trace() -> None:
    res = step_run({"kind": "hpa", "target_cpu": "50%", "max": 10})
    assert rows(res) == LEGACY_TRACE
    reasons = list(res.tables["scaling"]["reason"])
    assert reasons[2] == "cpu_pct above target; scale-up limit max(2 x 4, 4) = 8"
    assert "stabilised to the highest recommendation of 300 s: 40" in reasons[5]
    assert res.summary["scale_events"].iloc[0] == 4


def test_whole_run_step_load_behavior_defaults() -> None:
    # Same decisions up (Pods 4 / Percent 100 per 15 s happen to match the legacy cap here),
    # but the scale-down window excludes a recommendation exactly 300 s old: 495 s, not 510 s.
    res = step_run({"kind": "hpa", "target_cpu": "50%", "max": 10, "behavior": {}})
    expected = [r for r in LEGACY_TRACE if r[0] < 500] + [
        (495.0, 0.0, 10, 0, 1),
        (510.0, 0.0, 1, 0, 1),
    ]
    assert rows(res) == expected


def test_whole_run_sync_period() -> None:
    # Syncs every 30 s read the scrape of the same instant: 60 s -> 4; 90 s -> 8 (the pods
    # asked for at 60 s are ready at 73 s, fully counted by 90 s); 120 s -> 10.
    res = step_run({"kind": "hpa", "target_cpu": "50%", "max": 10, "sync_period": "30s"}, "150s")
    assert [(t, c, a) for t, _, c, _, a in rows(res)] == [
        (30.0, 1, 1),
        (60.0, 1, 4),
        (90.0, 4, 8),
        (120.0, 8, 10),
    ]


def test_whole_run_cpu_request_and_limit_come_from_the_pod_spec() -> None:
    # 250m request, 500m limit, 2 workers: a saturated pod is throttled to 500m = 200 %.
    res = step_run(
        {"kind": "hpa", "target_cpu": "50%", "max": 10},
        "61s",
        pod={"cpu": "250m", "limit_cpu": "500m"},
    )
    assert rows(res)[1][:2] == (60.0, 200.0)


def test_whole_run_without_a_pod_request_uses_one_core_per_worker() -> None:
    doc = {
        "name": "hpa-fixed",
        "seed": 1,
        "horizon": "31s",
        "workload": {
            "arrivals": {"kind": "constant", "rate": "100/s"},
            "service_time": {"kind": "fixed", "value": "1s"},
        },
        "scenarios": [
            {
                "name": "vm",
                "platform": {"kind": "fixed", "instances": 1},
                "serving": {"workers": 2, "queue_limit": 2},
                "autoscaler": {"kind": "hpa", "target_cpu": "50%", "max": 10},
            }
        ],
    }
    res = simulator.run(simulator.load_experiment(doc))
    # both workers busy from the first ms: 2000m of 2 x 1000m -> 99-100 %, 2 x 1 pod
    t, value, current, desired, _ = rows(res)[0]
    assert (t, current, desired) == (15.0, 1, 2) and 99.0 <= value <= 100.0


def test_whole_run_rps_and_latency_metrics_read_the_pipeline() -> None:
    res = step_run(
        {
            "kind": "hpa",
            "max": 10,
            "metrics": [{"type": "rps", "target": 5}, {"type": "latency_p95", "target": "100ms"}],
        },
        "61s",
    )
    t, value, current, desired, applied = rows(res)[0]
    table = res.tables["scaling"].iloc[0]
    # one saturated pod: ~10 completions/s (rps 2x target) vs p95 ~300 ms (3x target): 3 wins
    assert (t, current) == (60.0, 1)
    assert table["metric"] == "latency_p95_s" and 0.2 < value < 0.4
    assert desired == applied == math.ceil(value / 0.1)
