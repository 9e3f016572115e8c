"""A sweep from the command line's options to its aggregated result: plan, check, estimate, run."""

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from tcpq.app.sweep import LONG_SWEEP_S, Sweep, SweepPlan, aggregate, estimated_seconds, plan_sweep
from tcpq.errors import TcpqError
from tcpq.scenario import Scenario
from tcpq.sim.runner import MemoryLimit, check_memory, choose_version, estimate_memory, memory_limit

Progress = Callable[[int], AbstractContextManager[Callable[[int], None]]]


def point_checker(release: str | None, limit: MemoryLimit) -> Callable[[Scenario, str], None]:
    """What a worker's simulate() would refuse, refused before the first run: sysctls unknown to
    (or absent from) the point's kernel, and a run estimated to need more memory than allowed."""
    from tcpq.kernel.profiles import profile_for
    from tcpq.kernel.resolve import resolve_sysctls

    def check(scenario: Scenario, origin: str) -> None:
        version = choose_version(scenario, release)
        profile_for(version)
        kernel = scenario.kernel
        resolve_sysctls(version, {**kernel.sysctl, **kernel.server_sysctl}, origin)
        resolve_sysctls(version, {**kernel.sysctl, **kernel.client_sysctl}, origin)
        check_memory(scenario, limit, origin)

    return check


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cost_warnings(plan: SweepPlan, processes: int, limit: MemoryLimit) -> list[str]:
    """The estimate before starting, when it is large: time from the offered attempts, and
    memory when `processes` of the biggest run at once would pass the limit."""
    warnings = []
    seconds = estimated_seconds(plan, processes)
    if seconds > LONG_SWEEP_S:
        warnings.append(
            f"sweep: {plan.scenario}: {len(plan.tasks):,} runs, estimated {_duration(seconds)} on"
            f" {processes} processes (Ctrl-C stops it)"
        )
    biggest = max(estimate_memory(task.scenario) for task in plan.tasks)
    if processes * biggest > limit.bytes:
        warnings.append(
            f"sweep: {processes} runs at once may need {processes * biggest / 1024**2:,.0f} MiB, over"
            f" {limit.bytes / 1024**2:,.0f} MiB ({limit.reason}): consider fewer --jobs"
        )
    return warnings


def run_sweep(
    file: Path,
    *,
    vary: Sequence[str],
    overrides: Sequence[str] = (),
    seeds: int = 1,
    jobs: int = 1,
    metrics: Sequence[str] = (),
    goals: Sequence[str] = (),
    scheduler: str | None = None,
    max_memory: str | None = None,
    release: str | None = None,
    progress: Progress | None = None,
    warn: Callable[[str], None] | None = None,
) -> Sweep:
    """Plan and validate every point, say the estimate if it is large, run each point's seeds on
    `jobs` local processes (or the Dask scheduler at `scheduler`), aggregate in plan order."""
    from tcpq.app.sweep_exec import run_dask, run_local
    from tcpq.observe.procfs import read_mem_available

    if jobs < 1:
        raise TcpqError(f"--jobs {jobs}: give 1 or more processes")
    limit = memory_limit(max_memory, read_mem_available())
    plan = plan_sweep(
        file,
        vary=vary,
        overrides=overrides,
        seeds=seeds,
        metrics=metrics,
        goals=goals,
        release=release,
        check=point_checker(release, limit),
    )
    if warn is not None and scheduler is None:
        for line in cost_warnings(plan, min(jobs, len(plan.tasks)), limit):
            warn(line)
    bar = progress(len(plan.tasks)) if progress is not None else nullcontext(None)
    with bar as on_done:
        if scheduler is not None:
            results = run_dask(plan.tasks, scheduler, on_done)
        else:
            results = run_local(plan.tasks, jobs, on_done)
    return aggregate(plan, results)
