"""Where a sweep's runs execute: in this process, on this machine's cores, or on a Dask cluster.

Each executor takes the plan's Tasks and returns their results in task order, whatever order
they finished in, so a sweep's output does not depend on the executor or the number of
processes. Only a bounded number of runs is in flight at a time (a few per process), so a
sweep of 10,000 points does not hold 10,000 pickled scenarios in a queue.

Ctrl-C: local workers ignore SIGINT (the terminal sends it to the whole process group), so
only this process sees it; it cancels what has not started, terminates the workers and lets
the KeyboardInterrupt go on to the CLI (exit 130). On a cluster it cancels the futures.
"""

import importlib
import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from itertools import islice
from typing import Any

from tcpq.app.sweep import Task, Value, run_task
from tcpq.errors import TcpqError

Done = Callable[[int], None]  # called with the number of runs finished so far
Result = tuple[Value, ...]
IN_FLIGHT_PER_PROCESS = 4
JOIN_TIMEOUT_S = 5.0


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_inline(tasks: Sequence[Task], on_done: Done | None = None) -> list[Result]:
    """Every run in this process, one after another (`--jobs 1`)."""
    results: list[Result] = []
    for task in tasks:
        results.append(run_task(task)[1])
        if on_done is not None:
            on_done(len(results))
    return results


def _context() -> Any:
    # fork: a worker starts with tcpq already imported (a spawned one pays ~0.5 s of imports);
    # nothing here holds a lock or a thread a forked child could inherit mid-use.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _stop(executor: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor has no public way to stop running work before Python 3.14
    # (terminate_workers); its process table is the documented-by-source way to do it.
    workers = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join(JOIN_TIMEOUT_S)


def run_local(tasks: Sequence[Task], jobs: int, on_done: Done | None = None) -> list[Result]:
    """The runs spread over `jobs` worker processes of this machine."""
    if jobs < 1:
        raise TcpqError(f"--jobs {jobs}: give 1 or more processes")
    processes = min(jobs, len(tasks))
    if processes <= 1:
        return run_inline(tasks, on_done)
    results: list[Result | None] = [None] * len(tasks)
    pending: set[Future[tuple[int, Result]]] = set()
    queue: Iterator[Task] = iter(tasks)
    finished = 0
    executor = ProcessPoolExecutor(processes, mp_context=_context(), initializer=_ignore_sigint)
    try:
        pending = {
            executor.submit(run_task, task) for task in islice(queue, processes * IN_FLIGHT_PER_PROCESS)
        }
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                number, values = future.result()
                results[number] = values
                finished += 1
                next_task = next(queue, None)
                if next_task is not None:
                    pending.add(executor.submit(run_task, next_task))
            if on_done is not None:
                on_done(finished)
    except BaseException:
        _stop(executor)
        raise
    executor.shutdown(wait=True)
    return _complete(results)


def _complete(results: Sequence[Result | None]) -> list[Result]:
    out = [values for values in results if values is not None]
    if len(out) != len(results):
        raise TcpqError(f"sweep: {len(results) - len(out)} runs returned nothing")
    return out


def run_dask(tasks: Sequence[Task], address: str, on_done: Done | None = None) -> list[Result]:
    """The runs on a dask.distributed cluster (its workers need tcpq installed, same version)."""
    try:
        # Untyped (no stubs, untyped functions): kept as Any here rather than loosening mypy.
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise TcpqError(
            "--scheduler needs dask.distributed: pip install 'tcpq[cluster]' (here and on the workers)"
        ) from None
    try:
        client = distributed.Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise TcpqError(f"--scheduler {address}: cannot connect: {' '.join(str(exc).split())}") from None
    results: list[Result | None] = [None] * len(tasks)
    queue: Iterator[Task] = iter(tasks)
    finished = 0
    outstanding: set[Any] = set()
    try:
        threads = max(1, sum(client.nthreads().values()))
        first = islice(queue, threads * IN_FLIGHT_PER_PROCESS)
        outstanding = {client.submit(run_task, task, pure=False) for task in first}
        running = distributed.as_completed(outstanding, loop=client.loop)
        for future in running:
            number, values = future.result()
            results[number] = values
            finished += 1
            outstanding.discard(future)
            future.release()
            next_task = next(queue, None)
            if next_task is not None:
                submitted = client.submit(run_task, next_task, pure=False)
                outstanding.add(submitted)
                running.add(submitted)
            if on_done is not None:
                on_done(finished)
    except BaseException:
        client.cancel(list(outstanding))
        raise
    finally:
        client.close()
    return _complete(results)
