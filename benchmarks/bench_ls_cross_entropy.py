"""lsmath.ls_cross_entropy vs torch.nn.functional.cross_entropy(label_smoothing=...):
forward + backward time and peak memory on (N, K) logits with class-index targets.

    python benchmarks/bench_ls_cross_entropy.py                # N = 4096, K in {10, 1000, 32000}
    python benchmarks/bench_ls_cross_entropy.py --ks 1000 --rounds 31 --threads 2 --json out.json

Targets (from the issue): time ratio lsmath / torch <= 1.1, peak-memory ratio <= 1.0.
See benchmarks/_common.py for how time and memory are measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import lsmath  # noqa: E402

DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float64": torch.float64,
}


def loss_fn(method: str, alpha: float):
    if method == "torch":
        return lambda z, t: F.cross_entropy(z, t, label_smoothing=alpha)
    return lambda z, t: lsmath.ls_cross_entropy(z, t, alpha)


def make_inputs(n, k, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(n, k, generator=g) * 3).to(dtype).requires_grad_()
    t = torch.randint(0, k, (n,), generator=g)
    return z, t


def child(spec):
    torch.set_num_threads(spec["threads"])
    dtype = DTYPES[spec["dtype"]]
    f = loss_fn(spec["method"], spec["alpha"])
    z, t = make_inputs(spec["n"], spec["k"], dtype)
    zs, ts = make_inputs(8, spec["k"], dtype, seed=1)

    def run():
        f(z, t).backward()

    def zero():
        z.grad = None

    print(json.dumps(C.measure_child(run, lambda: f(zs, ts).backward(), zero)))


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--ks", type=int, nargs="+", default=[10, 1000, 32000])
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument("--dtype", choices=list(DTYPES), default="float32")
    ap.add_argument(
        "--rounds", type=int, default=21, help="interleaved timing rounds per method"
    )
    C.add_timing_arguments(ap)
    ap.add_argument(
        "--busy",
        type=int,
        default=0,
        help="spinning processes run beside the benchmark",
    )
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(json.loads(args.child))

    args.threads = C.resolve_threads(args.threads)
    with C.BusyProcesses(args.busy):
        results = measure(args)
    report(args, results)


def measure(args):
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {args.busy} busy process(es), "
        f"{C.load_note()}",
        flush=True,
    )
    dtype = DTYPES[args.dtype]
    results = []
    for k in args.ks:
        z, t = make_inputs(args.n, k, dtype)
        # the two agree before we time them
        a = lsmath.ls_cross_entropy(z.double(), t, args.alpha)
        b = F.cross_entropy(z.double(), t, label_smoothing=args.alpha)
        assert torch.allclose(a, b, rtol=1e-10), (a, b)
        fns = {}
        for method in ("torch", "lsmath"):
            f = loss_fn(method, args.alpha)

            def step(f=f):
                f(z, t).backward()
                z.grad = None

            fns[method] = step
        times = C.interleaved_times(fns, args.rounds, args.threads, args.clock)
        mem = {
            m: C.run_child(
                __file__,
                {
                    "method": m,
                    "n": args.n,
                    "k": k,
                    "dtype": args.dtype,
                    "alpha": args.alpha,
                    "threads": args.threads,
                },
                args.threads,
            )
            for m in ("torch", "lsmath")
        }
        # accuracy of the per-row losses against float64 on the same (rounded) logits
        ref = F.cross_entropy(
            z.double(), t, label_smoothing=args.alpha, reduction="none"
        )
        losses = {
            "torch": lambda: F.cross_entropy(
                z.detach(), t, label_smoothing=args.alpha, reduction="none"
            ),
            "lsmath": lambda: lsmath.ls_cross_entropy(
                z.detach(), t, args.alpha, reduction="none"
            ),
        }
        err = {
            m: ((fn().double() - ref).abs() / ref.abs()).max().item()
            for m, fn in losses.items()
        }
        row = {
            "n": args.n,
            "k": k,
            "dtype": args.dtype,
            "times": times,
            "memory": mem,
            "max_rel_err": err,
            "time_ratio": C.paired_ratio(times, "lsmath", "torch"),
            "alloc_ratio": mem["lsmath"]["alloc"] / mem["torch"]["alloc"],
        }
        if mem["torch"]["rss"]:
            row["rss_ratio"] = mem["lsmath"]["rss"] / mem["torch"]["rss"]
        results.append(row)
        print(f"K={k} done ({C.load_note()})", flush=True)
    return results


def report(args, results):
    print()
    print(
        f"N = {args.n}, {args.dtype}, alpha = {args.alpha}, forward + backward, "
        f"{args.rounds} interleaved rounds, "
        f"{args.threads} thread(s), {args.busy} busy process(es), {args.clock} clock"
    )
    print()
    print(
        "| K | torch ms, median [IQR] | lsmath ms, median [IQR] "
        "| time ratio, median of paired [IQR] "
        "| peak alloc MiB torch / lsmath | alloc ratio "
        "| peak RSS MiB torch / lsmath | RSS ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        tq, lq, rq = (
            C.quantiles(r["times"]["torch"]),
            C.quantiles(r["times"]["lsmath"]),
            r["time_ratio"],
        )
        mt, ml = r["memory"]["torch"], r["memory"]["lsmath"]
        print(
            f"| {r['k']} | {C.fmt_ms(tq[0])} [{C.fmt_ms(tq[1])}, {C.fmt_ms(tq[2])}] "
            f"| {C.fmt_ms(lq[0])} [{C.fmt_ms(lq[1])}, {C.fmt_ms(lq[2])}] "
            f"| {rq[0]:.2f} [{rq[1]:.2f}, {rq[2]:.2f}] "
            f"| {C.fmt_mib(mt['alloc'])} / {C.fmt_mib(ml['alloc'])} | {r['alloc_ratio']:.2f} "
            f"| {C.fmt_mib(mt['rss'])} / {C.fmt_mib(ml['rss'])} "
            f"| {r.get('rss_ratio', float('nan')):.2f} |"
        )
    print()
    print("| K | max relative error of the per-row losses vs float64: torch | lsmath |")
    print("|---|---|---|")
    for r in results:
        print(
            f"| {r['k']} | {r['max_rel_err']['torch']:.1e} | {r['max_rel_err']['lsmath']:.1e} |"
        )
    print(f"\n({C.load_note()})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
