"""Shared helpers for the benchmark scripts (not part of lsmath, not run by the tests).

Timing: ``torch.utils.benchmark.Timer``, the methods interleaved round by round
(A B, then B A, ...) so that a change in the machine's load hits both alike;
each round times ``number`` calls of one method and keeps the per-call time.
We report the median and the interquartile range (IQR) over rounds, and the
median of the per-round ratios (paired, so drift in load largely cancels).

Peak memory on CPU: a fresh subprocess per (method, configuration), so that no
earlier run leaves tensors or allocator state behind. Inside it, after the
inputs exist and a tiny warm-up has run, two measures are taken:

* ``alloc``: torch's own allocator accounting, read with ``torch.profiler``
  (``profile_memory=True``): the largest running total of live tensor bytes
  during forward + backward, minus the total before it
  (:func:`peak_memory_bytes` below). Exact and deterministic; it counts
  tensor storage only.
* ``rss``: the resident-set high-water mark of the process (``VmHWM``, reset
  through ``/proc/self/clear_refs``) minus the resident size just before the
  call. The child runs with ``MALLOC_MMAP_THRESHOLD_=65536`` so that glibc
  serves every large buffer with ``mmap`` and returns it on free; RSS then
  follows live memory and this cross-checks ``alloc`` (it also sees memory
  that torch does not allocate through its allocator, e.g. thread buffers).

On CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``,
minus ``memory_allocated`` before the call, in process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` from anywhere finds lsmath
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.benchmark import Timer  # noqa: E402

MiB = 2**20


def peak_memory_bytes(fn, device="cpu") -> int:
    """Peak bytes that torch allocates while ``fn()`` runs, beyond what was live before.

    On CUDA this is ``torch.cuda.max_memory_allocated`` after a reset, minus
    ``memory_allocated`` before the call. On CPU, where torch keeps no such
    counter, ``fn`` runs under ``torch.profiler`` with ``profile_memory=True``:
    every allocation and free through torch's CPU allocator is recorded with
    the running total of live bytes, and the answer is the largest running
    total minus the total before the first event. The count is exact and
    deterministic (tensor bytes, not pages or allocator caches); memory that
    torch does not allocate (Python objects, libraries) is not included.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        fn()
        torch.cuda.synchronize(dev)
        return int(torch.cuda.max_memory_allocated(dev) - base)
    if dev.type != "cpu":
        raise ValueError(f"device must be 'cpu' or a CUDA device, got {device!r}")
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    totals, befores = [], []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.typed[0] == _EventType.Allocation:
            extra = node.extra_fields
            if extra.device.type == "cpu":
                totals.append(extra.total_allocated)
                befores.append(extra.total_allocated - extra.alloc_size)
        stack.extend(node.children)
    if not totals:
        return 0
    return int(max(0, max(totals) - min(befores)))


def quantiles(xs):
    """median, first and third quartile"""
    q = (
        statistics.quantiles(xs, n=4, method="inclusive")
        if len(xs) > 1
        else [xs[0]] * 3
    )
    return statistics.median(xs), q[0], q[2]


def _cuda_clock():
    torch.cuda.synchronize()
    return time.perf_counter()


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter, "cuda": _cuda_clock}


def interleaved_times(
    fns: dict, rounds: int, threads: int, clock: str = "cpu", min_round_s: float = 0.2
) -> dict:
    """Per-call seconds of each callable, one entry per round, methods interleaved.

    ``clock="cpu"`` times with the process's CPU time (``time.process_time``):
    on a machine shared with other jobs, wall time mostly measures how long the
    scheduler kept us waiting; CPU time measures the work (with one thread it is
    the time the computation ran). ``"wall"`` uses ``time.perf_counter``.
    """
    timers = {
        name: Timer(
            stmt="fn()", globals={"fn": fn}, num_threads=threads, timer=CLOCKS[clock]
        )
        for name, fn in fns.items()
    }
    number = {}
    for name, timer in timers.items():
        timer.timeit(1)  # warm-up
        est = timer.timeit(1).median
        number[name] = max(1, int(min_round_s / max(est, 1e-9)))
    names = list(fns)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(timers[name].timeit(number[name]).median)
    return times


def paired_ratio(times: dict, num: str, den: str):
    return quantiles([a / b for a, b in zip(times[num], times[den])])


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def rss_peak_delta(fn):
    """Bytes by which the resident set grows at its peak during fn() (Linux), or None."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the high-water mark VmHWM to the current RSS
        before = _status_kib("VmRSS")
    except (OSError, KeyError):
        fn()
        return None
    fn()
    return (_status_kib("VmHWM") - before) * 1024


def measure_child(fn, warmup, zero_grads):
    """In a child process: warm up, then the RSS and allocator peaks of fn()."""
    warmup()
    zero_grads()
    rss = rss_peak_delta(fn)
    zero_grads()
    alloc = peak_memory_bytes(fn)
    return {"alloc": alloc, "rss": rss}


def run_child(script: str, spec: dict, threads: int) -> dict:
    """Run `script --child SPEC` in a fresh interpreter and return its JSON answer."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS=str(threads))
    out = subprocess.run(
        [sys.executable, script, "--child", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no result from child: {out!r}")


def fmt_ms(x):
    return f"{1e3 * x:.3g}"


def fmt_mib(x):
    return "n/a" if x is None else f"{x / MiB:.1f}"


def load_note():
    la = os.getloadavg()
    return (
        f"load average {la[0]:.1f} / {la[1]:.1f} / {la[2]:.1f} on {os.cpu_count()} CPUs"
    )


class BusyProcesses:
    """``with BusyProcesses(n):`` runs ``n`` spinning Python processes beside the benchmark.

    They stand for what else runs on a user's machine (issue 18: "with and
    without a concurrent busy process"); they are ended, by their own process
    handles, when the block exits.
    """

    def __init__(self, n: int):
        self.n, self.procs = n, []

    def __enter__(self):
        code = "while True:\n    pass"
        self.procs = [
            subprocess.Popen([sys.executable, "-c", code]) for _ in range(self.n)
        ]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait()
        return False


def add_timing_arguments(ap) -> None:
    """``--threads`` and ``--clock``, shared by the benchmark scripts."""
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1: least noisy on a shared machine; 0: torch's default)",
    )
    ap.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="cpu: process CPU time (robust on a shared machine); wall: perf_counter",
    )


def resolve_threads(threads: int) -> int:
    """0 means torch's default intra-op thread count (what a user gets)."""
    return threads if threads > 0 else torch.get_num_threads()
