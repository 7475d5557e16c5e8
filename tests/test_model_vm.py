"""``vm``: hand-computed provisioning timelines, placement, host purchase, speed, cost, errors.

Every timeline is written out by hand in the test: 10 GB over a 1 Gbps image
store is 1e10 B / 1.25e8 B/s = 80 s; two copies at once share the link max-min
fairly (62.5 MB/s each), so both take 160 s; boot is the calibrated 8 s.
"""

from __future__ import annotations

from typing import Any

import pytest
import simpy

import simulator
from models.vm import BOOT_S, CPU_SPEED, IO_SPEED, Host, VMPlatform, choose_host
from simulator.balancer import make_balancer
from simulator.engine import streams_for
from simulator.loading import InputError
from simulator.platform import Cluster, RunContext
from simulator.recorder import Recorder
from simulator.registry import PLATFORMS

GIB = 2.0**30


def fixed(seconds: float) -> dict[str, Any]:
    return {"kind": "fixed", "value": seconds}


def experiment(
    platform: dict[str, Any],
    actions: list[tuple[float, int]] | None = None,
    *,
    horizon: str = "1h",
    rate: str = "1/s",
    service: float = 0.1,
    workers: int = 4,
) -> dict[str, Any]:
    """One vm scenario; the schedule autoscaler asks for ``instances`` at ``at``."""
    scenario: dict[str, Any] = {
        "name": "vm",
        "platform": {"kind": "vm", **platform},
        "serving": {"workers": workers},
    }
    if actions:
        scenario["autoscaler"] = {
            "kind": "schedule",
            "actions": [{"at": at, "instances": n} for at, n in actions],
        }
    return {
        "name": "vm-test",
        "seed": 7,
        "horizon": horizon,
        "workload": {
            "arrivals": {"kind": "constant", "rate": rate},
            "service_time": fixed(service),
        },
        "scenarios": [scenario],
    }


def run(doc: dict[str, Any]) -> simulator.Results:
    return simulator.run(simulator.load_experiment(doc))


def timeline(res: simulator.Results) -> list[tuple[str, str, float, float, float]]:
    """(instance, stage, start_s, end_s, waited_s), in start order."""
    p = res.provisioning.sort_values(["start_s", "instance"], kind="stable")
    return [
        (str(r["instance"]), str(r["stage"]), r["start_s"], r["end_s"], r["waited_s"])
        for r in p.to_dict("records")
    ]


CONFIGURE_30S = {"configure": {"duration": fixed(30)}}


# -- VM stages --------------------------------------------------------------------------------


def test_boot_is_the_calibrated_local_kvm_boot() -> None:
    assert 7.0 <= BOOT_S <= 9.0


def test_one_vm_copies_its_image_then_boots_then_configures() -> None:
    platform = {"initial": 1, "image_size": "10GB", "image_store": "1Gbps", "stages": CONFIGURE_30S}
    res = run(experiment(platform, [(10, 2)]))
    # i0 is ready at t = 0 on host0; i1 is asked for at t = 10:
    #   image_copy 10 GB / 125 MB/s = 80 s  [10, 90]
    #   boot 8 s                            [90, 98]
    #   configure 30 s                      [98, 128]
    assert timeline(res) == [
        ("i1", "image_copy", 10.0, 90.0, 0.0),
        ("i1", "boot", 90.0, 98.0, 0.0),
        ("i1", "configure", 98.0, 128.0, 0.0),
    ]
    s = res.summary.iloc[0]
    assert s["time_to_first_ready_s"] == pytest.approx(118.0)
    assert s["vm_hosts_bought"] == 0


def test_two_copies_at_once_share_the_image_store_link() -> None:
    platform = {"initial": 1, "image_size": "10GB", "image_store": "1Gbps", "stages": CONFIGURE_30S}
    res = run(experiment(platform, [(10, 3)]))
    # Both copies start at t = 10 and get 62.5 MB/s each: 1e10 / 6.25e7 = 160 s.
    assert timeline(res) == [
        ("i1", "image_copy", 10.0, 170.0, 0.0),
        ("i2", "image_copy", 10.0, 170.0, 0.0),
        ("i1", "boot", 170.0, 178.0, 0.0),
        ("i2", "boot", 170.0, 178.0, 0.0),
        ("i1", "configure", 178.0, 208.0, 0.0),
        ("i2", "configure", 178.0, 208.0, 0.0),
    ]
    s = res.summary.iloc[0]
    assert s["time_to_target_capacity_s"] == pytest.approx(198.0)


def test_a_linked_clone_copies_nothing() -> None:
    platform = {
        "initial": 1,
        "linked_clone": True,
        "stages": {**CONFIGURE_30S, "linked_clone": {"duration": fixed(3)}},
    }
    res = run(experiment(platform, [(10, 3)]))
    # No transfer, so no sharing: clone 3 s [10, 13], boot [13, 21], configure [21, 51].
    assert timeline(res) == [
        ("i1", "linked_clone", 10.0, 13.0, 0.0),
        ("i2", "linked_clone", 10.0, 13.0, 0.0),
        ("i1", "boot", 13.0, 21.0, 0.0),
        ("i2", "boot", 13.0, 21.0, 0.0),
        ("i1", "configure", 21.0, 51.0, 0.0),
        ("i2", "configure", 21.0, 51.0, 0.0),
    ]


# -- placement --------------------------------------------------------------------------------


def hand_made_hosts() -> list[Host]:
    """Three 8-vCPU / 16 GiB hosts: host0 has room for 2 VMs of 2 vCPU / 4 GiB, host1 for 1,
    host2 for 4 (empty)."""
    hosts = [Host(f"host{k}", 8.0, 16 * GIB) for k in range(3)]
    hosts[0].reserve(-1, 4.0, 8 * GIB)
    hosts[1].reserve(-2, 6.0, 12 * GIB)
    return hosts


def test_first_fit_takes_the_first_host_with_room() -> None:
    hosts = hand_made_hosts()
    assert [h.room(2.0, 4 * GIB) for h in hosts] == [2, 1, 4]
    chosen = choose_host(hosts, 2.0, 4 * GIB, "first_fit")
    assert chosen is not None and chosen.name == "host0"


def test_best_fit_takes_the_host_left_with_least_room() -> None:
    chosen = choose_host(hand_made_hosts(), 2.0, 4 * GIB, "best_fit")
    assert chosen is not None and chosen.name == "host1"


def test_best_fit_counts_room_on_the_binding_resource() -> None:
    # host0: plenty of vCPUs, memory for 1 VM; host1: memory for 3, vCPUs for 2.
    hosts = [Host("host0", 64.0, 16 * GIB), Host("host1", 8.0, 64 * GIB)]
    hosts[0].reserve(-1, 0.0, 12 * GIB)
    hosts[1].reserve(-2, 4.0, 52 * GIB)
    assert [h.room(2.0, 4 * GIB) for h in hosts] == [1, 2]
    chosen = choose_host(hosts, 2.0, 4 * GIB, "best_fit")
    assert chosen is not None and chosen.name == "host0"


def test_hosts_in_service_are_preferred_to_hosts_being_bought() -> None:
    hosts = hand_made_hosts()
    hosts[0].ready = False  # host0 still on order: first fit passes it over for host1
    chosen = choose_host(hosts, 2.0, 4 * GIB, "first_fit")
    assert chosen is not None and chosen.name == "host1"
    hosts[0].ready, hosts[1].ready = True, False  # best fit passes host1 over for host0
    chosen = choose_host(hosts, 2.0, 4 * GIB, "best_fit")
    assert chosen is not None and chosen.name == "host0"
    for h in hosts:
        h.ready = False  # all on order: the usual rule among them
    chosen = choose_host(hosts, 2.0, 4 * GIB, "best_fit")
    assert chosen is not None and chosen.name == "host1"
    full = [Host("h", 2.0, 4 * GIB)]
    full[0].reserve(-1, 2.0, 4 * GIB)
    assert choose_host(full, 2.0, 4 * GIB, "first_fit") is None


def hand_built(platform: dict[str, Any]) -> tuple[simpy.Environment, VMPlatform]:
    """The run wiring of ``simulator.engine.run_one`` up to ``platform.start()``."""
    exp = simulator.load_experiment(experiment(platform))
    scenario = exp.scenarios[0]
    env = simpy.Environment()
    streams = streams_for(exp.seed, 0)
    recorder = Recorder(exp.warmup, None)
    balancer = make_balancer(scenario.balancer, streams["routing"])
    cluster = Cluster(env, recorder, balancer, scenario, None)
    ctx = RunContext(env, exp, scenario, 0, cluster, recorder, streams)
    vm = PLATFORMS.get("vm").build(scenario.platform, ctx)
    assert isinstance(vm, VMPlatform)
    vm.start()
    return env, vm


SMALL_HOSTS = {
    "hosts": 3,
    "initial": 0,
    "host": {"cores": 8, "memory": "16GiB"},
    "overcommit": {"cpu": 1.0, "memory": 1.0},
    "flavor": {"vcpus": 2, "memory": "4GiB"},
    "linked_clone": True,
    "stages": CONFIGURE_30S,
}


@pytest.mark.parametrize(("placement", "host"), [("first_fit", "host0"), ("best_fit", "host1")])
def test_a_launch_reserves_capacity_on_the_chosen_host(placement: str, host: str) -> None:
    env, vm = hand_built({**SMALL_HOSTS, "placement": placement})
    fresh = hand_made_hosts()
    for mine, made in zip(vm.hosts, fresh, strict=True):
        mine.used_vcpus, mine.used_memory = made.used_vcpus, made.used_memory
    vm.scale_to(1)
    (inst,) = vm.pending
    assert inst.tags["host"].name == host
    chosen = vm.hosts[int(host[-1])]
    assert inst.id in chosen.vms
    env.run(until=100)
    # Reserved from launch, through the stages, while it serves: clone 2 s, boot 8 s, 30 s.
    assert [(s.stage, s.start_s, s.end_s) for s in vm.ctx.cluster.spans] == [
        ("linked_clone", 0.0, 2.0),
        ("boot", 2.0, 10.0),
        ("configure", 10.0, 40.0),
    ]
    assert inst.state.value == "ready"
    assert chosen.room(2.0, 4 * GIB) == fresh[int(host[-1])].room(2.0, 4 * GIB) - 1


def test_a_retired_vm_frees_its_share_of_the_host() -> None:
    env, vm = hand_built({**SMALL_HOSTS, "hosts": 1, "initial": 4})
    host = vm.hosts[0]
    assert host.room(2.0, 4 * GIB) == 0 and len(host.vms) == 4
    vm.scale_to(3)  # drains the newest VM; idle, so it retires at once
    env.run(until=1)
    assert host.room(2.0, 4 * GIB) == 1 and len(host.vms) == 3
    assert vm.ctx.extras["counters"]["vm_hosts_bought"] == 0


# -- a full pool buys a host ------------------------------------------------------------------

FULL_POOL = {
    "hosts": 1,
    "initial": 2,
    "host": {"cores": 4, "memory": "8GiB", "price": "$730/month"},  # $1 per hour
    "overcommit": {"cpu": 1.0, "memory": 1.0},
    "flavor": {"vcpus": 2, "memory": "4GiB"},  # 2 VMs per host
    "image_size": "10GB",
    "image_store": "1Gbps",
    "stages": CONFIGURE_30S,
    "host_stages": {"order": {"duration": fixed(3600)}},
}


def test_when_no_host_has_room_a_host_is_bought_and_the_vms_wait_for_it() -> None:
    res = run(experiment(FULL_POOL, [(10, 4)], horizon="5h"))
    # host0 holds i0, i1 (ready at t = 0). At t = 10, i2 fits nowhere: host1 is bought;
    # i3 fits on host1 (being bought, room for 2), so only one host is bought.
    # host1: order 1 h [10, 3610], rack 20 min [3610, 4810], network 35 min [4810, 6910],
    #        os_install 25 min [6910, 8410], hypervisor_install 30 min [8410, 10210].
    # i2, i3: wait for host1 [10, 10210], then both copies share the link: 160 s
    #        [10210, 10370], boot [10370, 10378], configure [10378, 10408].
    assert timeline(res) == [
        ("host1", "order", 10.0, 3610.0, 0.0),
        ("i2", "wait_for_host", 10.0, 10210.0, 0.0),
        ("i3", "wait_for_host", 10.0, 10210.0, 0.0),
        ("host1", "rack", 3610.0, 4810.0, 0.0),
        ("host1", "network", 4810.0, 6910.0, 0.0),
        ("host1", "os_install", 6910.0, 8410.0, 0.0),
        ("host1", "hypervisor_install", 8410.0, 10210.0, 0.0),
        ("i2", "image_copy", 10210.0, 10370.0, 0.0),
        ("i3", "image_copy", 10210.0, 10370.0, 0.0),
        ("i2", "boot", 10370.0, 10378.0, 0.0),
        ("i3", "boot", 10370.0, 10378.0, 0.0),
        ("i2", "configure", 10378.0, 10408.0, 0.0),
        ("i3", "configure", 10378.0, 10408.0, 0.0),
    ]
    s = res.summary.iloc[0]
    assert s["vm_hosts_bought"] == 1
    assert s["time_to_target_capacity_s"] == pytest.approx(10398.0)
    # host0 costs $1/h for the whole 5 h; host1 from when it is in service (t = 10210 s).
    assert s["cost_usd"] == pytest.approx(5.0 + (18000 - 10210) / 3600)


def test_staff_contention_serialises_two_host_pipelines() -> None:
    platform = {
        **FULL_POOL,
        "hosts": 0,
        "initial": 0,
        "flavor": {"vcpus": 4, "memory": "4GiB"},  # 1 VM per host
        "resources": {"ops_staff": 1},
    }
    res = run(experiment(platform, [(10, 2)], horizon="6h"))
    # One person: each staffed stage waits for the other host's stage before it (FIFO).
    #          host0                         host1
    # order    [10, 3610]                    [10, 3610]
    # rack     [3610, 4810]                  [4810, 6010] waited 1200
    # network  [6010, 8110] waited 1200      [8110, 10210] waited 2100
    # os       [10210, 11710] waited 2100    [11710, 13210] waited 1500
    # hyperv.  [13210, 15010] waited 1500    [15010, 16810] waited 1800
    spans = [t for t in timeline(res) if t[0].startswith("host")]
    assert spans == [
        ("host0", "order", 10.0, 3610.0, 0.0),
        ("host1", "order", 10.0, 3610.0, 0.0),
        ("host0", "rack", 3610.0, 4810.0, 0.0),
        ("host1", "rack", 4810.0, 6010.0, 1200.0),
        ("host0", "network", 6010.0, 8110.0, 1200.0),
        ("host1", "network", 8110.0, 10210.0, 2100.0),
        ("host0", "os_install", 10210.0, 11710.0, 2100.0),
        ("host1", "os_install", 11710.0, 13210.0, 1500.0),
        ("host0", "hypervisor_install", 13210.0, 15010.0, 1500.0),
        ("host1", "hypervisor_install", 15010.0, 16810.0, 1800.0),
    ]
    # Each VM starts its own stages when its host is in service.
    vms = {(i, st): (a, b) for i, st, a, b, _ in timeline(res) if not i.startswith("host")}
    assert vms[("i0", "wait_for_host")] == (10.0, 15010.0)
    assert vms[("i0", "image_copy")] == (15010.0, 15090.0)
    assert vms[("i1", "wait_for_host")] == (10.0, 16810.0)
    assert vms[("i1", "image_copy")] == (16810.0, 16890.0)
    assert res.summary.iloc[0]["vm_hosts_bought"] == 2


def test_a_vm_cancelled_while_waiting_for_its_host_frees_its_place_but_not_the_host() -> None:
    env, vm = hand_built(FULL_POOL)
    vm.scale_to(3)  # t = 0: i2 fits nowhere, host1 is ordered
    env.run(until=100)
    (inst,) = vm.pending
    assert inst.tags["host"] is vm.hosts[1] and vm.hosts[1].room(2.0, 4 * GIB) == 1
    vm.scale_to(2)  # t = 100: scale-in cancels i2 before its host arrives
    env.run(until=20000)
    assert vm.pending == [] and inst.state.value == "gone"
    # The order stands: host1 arrives at 3600 + 20 + 35 + 25 + 30 min = 10200 s, empty.
    assert vm.hosts[1].ready and vm.hosts[1].room(2.0, 4 * GIB) == 2
    assert [s.instance for s in vm.ctx.cluster.spans] == ["host1"] * 5
    assert vm.ctx.cluster.spans[-1].end_s == 10200.0


def test_max_hosts_refuses_a_vm_that_fits_nowhere() -> None:
    res = run(experiment({**FULL_POOL, "max_hosts": 1}, [(10, 3)]))
    s = res.summary.iloc[0]
    assert res.provisioning.empty
    assert s["vm_hosts_bought"] == 0 and s["vm_launches_refused"] == 1


# -- serving speed and cost -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "speed"),
    [({}, CPU_SPEED), ({"io_heavy": True}, IO_SPEED), ({"hypervisor_speed": 0.9}, 0.9)],
)
def test_hypervisor_overhead_slows_service(platform: dict[str, Any], speed: float) -> None:
    # 64 workers at 1 request/s of 1 s each: no request ever waits, so latency = demand / speed.
    res = run(experiment({"initial": 1, **platform}, rate="1/s", service=1.0, workers=64))
    s = res.summary.iloc[0]
    assert s["completed"] > 3000 and s["waited_fraction"] == 0
    assert s["latency_mean_s"] == pytest.approx(1.0 / speed)
    assert CPU_SPEED == 0.98 and IO_SPEED == 0.5


def test_hosts_cost_whether_used_or_not_and_vms_add_only_a_licence() -> None:
    platform = {
        "hosts": 3,
        "initial": 1,
        "host": {"price": "$730/month"},  # $1 per hour per host
        "flavor": {"licence": "$73/month"},  # $0.10 per hour per VM
    }
    res = run(experiment(platform, horizon="2h"))
    # 3 hosts × $1/h × 2 h + 1 VM × $0.10/h × 2 h, although two hosts hold no VM.
    assert res.summary.iloc[0]["cost_usd"] == pytest.approx(6.0 + 0.2)


# -- invalid config ---------------------------------------------------------------------------


def problems(platform: dict[str, Any]) -> list[str]:
    with pytest.raises(InputError) as info:
        simulator.load_experiment(experiment(platform))
    return info.value.problems


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ({"flavor": {"memory": "300GiB"}}, "platform.flavor.memory: 300 GiB does not fit"),
        (
            {"flavor": {"vcpus": 200}, "overcommit": {"cpu": 4}},
            "platform.flavor.vcpus: 200 vCPUs do not fit on a host (128 schedulable",
        ),
        ({"placement": "worst_fit"}, "platform.placement: Input should be 'first_fit' or"),
        ({"image_size": "-10GB"}, "platform.image_size: a size cannot be negative"),
        ({"image_store": "0Gbps"}, "platform.image_store: must be > 0"),
        ({"hosts": 1, "initial": 65}, "platform.initial: 65 VMs do not fit on 1 host(s)"),
        ({"hosts": 3, "max_hosts": 2}, "platform.max_hosts: 2 is below hosts (3)"),
        ({"config_mgmt": {"versions": 2}}, "platform.config_mgmt.versions: side-by-side"),
        (
            {"host_stages": {"bogus": {"duration": fixed(1)}}},
            "platform.host_stages.bogus: unknown stage",
        ),
        (
            {"host_stages": {"rack": {"holds": {"dba": 1}}}},
            "platform.host_stages.rack: unknown resource 'dba'",
        ),
        (
            {"stages": {"image_copy": {"links": ["nfs"]}}},
            "platform.stages.image_copy.links: unknown link 'nfs'",
        ),
    ],
)
def test_invalid_config_names_the_field(platform: dict[str, Any], expected: str) -> None:
    (line,) = problems(platform)
    assert f"scenarios[0].{expected}" in line


# -- configuration management -----------------------------------------------------------------


def test_a_puppet_run_replaces_configure_and_re_runs_every_30_minutes() -> None:
    platform = {
        "initial": 1,
        "linked_clone": True,
        "config_mgmt": {"tool": "puppet", "managed_resources": 331, "rerun": True},
    }
    res = run(experiment(platform, [(10, 2)], horizon="1h"))
    # i1: clone 2 s [10, 12], boot 8 s [12, 20], puppet 30 s + 331 × 9/331 s = 39 s [20, 59].
    # Puppet re-runs every 30 min start to start: i0 (serving since t = 0) at 1800,
    # i1 at 20 + 1800 = 1820; the next ones (3600, 3620) end after the 1 h horizon.
    got = [(i, st, pytest.approx(a), pytest.approx(b)) for i, st, a, b, _ in timeline(res)]
    assert got == [
        ("i1", "linked_clone", 10.0, 12.0),
        ("i1", "boot", 12.0, 20.0),
        ("i1", "config_mgmt", 20.0, 59.0),
        ("i0", "config_mgmt_rerun", 1800.0, 1839.0),
        ("i1", "config_mgmt_rerun", 1820.0, 1859.0),
    ]
    assert res.summary.iloc[0]["cm_reruns"] == 2


def test_ansible_configures_through_the_control_nodes_forks() -> None:
    platform = {
        "initial": 0,
        "linked_clone": True,
        "config_mgmt": {"tool": "ansible", "managed_resources": 10, "overhead": "5s"},
        "resources": {"ansible_forks": 1},
    }
    res = run(experiment(platform, [(0, 2)], horizon="10m"))
    # Ansible: 5 s + 10 × 0.5 s = 10 s per host; one fork, so i1 waits for i0's run.
    cm = [t for t in timeline(res) if t[1] == "config_mgmt"]
    assert cm == [("i0", "config_mgmt", 10.0, 20.0, 0.0), ("i1", "config_mgmt", 20.0, 30.0, 10.0)]
