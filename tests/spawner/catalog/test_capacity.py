"""Capacity caps of a profile list: the pure decision, its messages, the ledger, and the catalog format."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from spawner.catalog import load_catalog
from spawner.catalog.capacity import CapacityLedger, Usage, refusal
from spawner.catalog.model import Capacity
from tests.support.catalog import MAIN_LIST, problems_of, write_catalog


def u(user, server="", list_name="hack", cpu=1.0, gpu=0):
    return Usage(user=user, server=server, list_name=list_name, cpu=cpu, gpu=gpu)


def test_no_capacity_means_no_limit():
    assert refusal(None, u("a"), [u(str(i)) for i in range(100)]) is None


def test_servers_total_counts_only_the_lists_servers():
    cap = Capacity(servers_total=2)
    assert refusal(cap, u("c"), [u("a"), u("b", list_name="other")]) is None
    assert refusal(cap, u("c"), [u("a"), u("b")]) == (
        "profile list 'hack' allows 2 servers in total; 2 are running"
    )
    assert refusal(Capacity(servers_total=1), u("c"), [u("a")]) == (
        "profile list 'hack' allows 1 server in total; 1 is running"
    )


def test_servers_per_user_names_the_running_servers():
    cap = Capacity(servers_per_user=2)
    running = [u("a"), u("a", "big"), u("b")]
    assert refusal(cap, u("a", "third"), running) == (
        "profile list 'hack' allows 2 servers per user; a has 2 running (the default server, 'big')"
    )
    assert refusal(cap, u("b", "second"), running) is None


def test_cpu_and_gpu_totals():
    cap = Capacity(cpu_total=4, gpu_total=2)
    running = [u("a", cpu=2, gpu=1), u("b", cpu=1.5)]
    assert refusal(cap, u("c", cpu=0.5), running) is None
    assert refusal(cap, u("c", cpu=1), running) == (
        "profile list 'hack' allows 4 CPU cores in total; 3.5 are in use by 2 servers and this server asks for 1"
    )
    assert refusal(cap, u("c", cpu=0.5, gpu=2), running) == (
        "profile list 'hack' allows 2 GPUs in total; 1 are in use by 2 servers and this server asks for 2"
    )


def test_a_restarting_server_does_not_count_against_itself():
    assert refusal(Capacity(servers_total=1), u("a"), [u("a")]) is None


async def test_ledger_concurrent_reservations_get_exactly_the_cap():
    ledger, cap = CapacityLedger(), Capacity(servers_total=10)

    async def spawn(i):
        await asyncio.sleep(0)  # interleave like concurrent spawns on the hub's loop
        return ledger.reserve(u(f"user{i}"), cap, holder=i)

    results = await asyncio.gather(*(spawn(i) for i in range(20)))
    assert sum(r is None for r in results) == 10 and len(ledger) == 10
    assert {r for r in results if r} == {"profile list 'hack' allows 10 servers in total; 10 are running"}

    first = next(i for i, r in enumerate(results) if r is None)
    assert ledger.release((f"user{first}", ""), holder="someone else") is None  # only its holder releases it
    assert ledger.release((f"user{first}", ""), holder=first) is not None
    assert ledger.reserve(u("late"), cap) is None


def test_usage_survives_the_spawner_state_round_trip():
    end = datetime(2026, 12, 3, 18, tzinfo=UTC)
    usage = Usage("a", "s", "hack", cpu=1.5, gpu=1, service="jupyter-python", window_end=end)
    assert Usage.from_state("a", "s", usage.to_state()) == usage


def test_capacity_in_a_list_file_and_its_problems(tmp_path):
    ok = write_catalog(
        tmp_path / "ok",
        lists={
            "main": MAIN_LIST
            + "capacity: {servers_per_user: 1, servers_total: 10, cpu_total: 8, gpu_total: 0}\n"
        },
    )
    assert load_catalog(ok).lists["main"].capacity == Capacity(
        servers_per_user=1, servers_total=10, cpu_total=8, gpu_total=0
    )
    bad = write_catalog(
        tmp_path / "bad",
        lists={
            "main": MAIN_LIST + "capacity:\n  servers_per_user: 5\n  servers_total: 2\n",
            "other": MAIN_LIST + "capacity: {servers_totl: 2, cpu_total: 0}\n",
        },
    )
    problems = problems_of(bad)
    assert "lists/main.yaml:7: capacity: servers_per_user 5 is above servers_total 2" in problems
    assert any(p.startswith("lists/other.yaml:6: unknown key 'capacity.servers_totl'") for p in problems)
    assert any(p.startswith("lists/other.yaml:6: capacity.cpu_total:") for p in problems)
