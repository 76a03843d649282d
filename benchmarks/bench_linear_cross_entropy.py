"""Peak memory (and time) of the LS cross-entropy of hidden @ weight.T:
the naive path, which materialises the N x V logits, against
lsmath.ls_linear_cross_entropy, which works chunk_size rows at a time.

    python benchmarks/bench_linear_cross_entropy.py              # CPU: sweeps over N and over V
    python benchmarks/bench_linear_cross_entropy.py --device cuda  # N=8192, D=4096,
                                                                   # V=128256, bfloat16
    python benchmarks/bench_linear_cross_entropy.py --time-grid --dtype bfloat16 \
        --ns 1024 4096 --vs 8000 32000 --d 256 --threads 0 --clock wall --chunk 0
                                      # time only: chunked vs naive-torch at every (N, V)

Methods (forward + backward, gradients for hidden and weight):
  naive-torch   F.cross_entropy(hidden @ weight.T, target, label_smoothing=alpha)
  naive-lsmath  lsmath.ls_cross_entropy(hidden @ weight.T, target, alpha)
  chunked       lsmath.ls_linear_cross_entropy(hidden, weight, target, alpha, chunk_size=...)

On CPU each (method, size) runs in a fresh subprocess (see _common.py for the
allocator and RSS measures); on CUDA, torch.cuda.max_memory_allocated.
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
from _common import peak_memory_bytes  # noqa: E402

import lsmath  # noqa: E402
from lsmath._chunked_kernels import default_chunk_size as _default_chunk_size  # noqa: E402

DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
METHODS = ("naive-torch", "naive-lsmath", "chunked")


def loss_fn(method, alpha, chunk):
    if method == "naive-torch":
        return lambda h, w, t: F.cross_entropy(h @ w.T, t, label_smoothing=alpha)
    if method == "naive-lsmath":
        return lambda h, w, t: lsmath.ls_cross_entropy(h @ w.T, t, alpha)
    return lambda h, w, t: lsmath.ls_linear_cross_entropy(
        h, w, t, alpha, chunk_size=chunk
    )


def step_fns(methods, alpha, chunk, h, w, t) -> dict:
    """One forward + backward per call for each method, gradients dropped after it."""
    fns = {}
    for m in methods:
        f = loss_fn(m, alpha, chunk)

        def step(f=f):
            f(h, w, t).backward()
            h.grad = w.grad = None

        fns[m] = step
    return fns


def make_inputs(n, d, v, dtype, device, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    h = (torch.randn(n, d, generator=g, device=device)).to(dtype).requires_grad_()
    w = (
        (torch.randn(v, d, generator=g, device=device) / d**0.5)
        .to(dtype)
        .requires_grad_()
    )
    t = torch.randint(0, v, (n,), generator=g, device=device)
    return h, w, t


def child(spec):
    torch.set_num_threads(spec["threads"])
    f = loss_fn(spec["method"], spec["alpha"], spec["chunk"])
    dtype = DTYPES[spec["dtype"]]
    h, w, t = make_inputs(spec["n"], spec["d"], spec["v"], dtype, "cpu")
    hs, ws, ts = make_inputs(8, spec["d"], 64, dtype, "cpu", seed=1)

    def zero():
        h.grad = w.grad = None

    print(
        json.dumps(
            C.measure_child(
                lambda: f(h, w, t).backward(), lambda: f(hs, ws, ts).backward(), zero
            )
        )
    )


def predicted_chunked_bytes(n, d, v, chunk, itemsize):
    """What ls_linear_cross_entropy allocates at its peak, counted tensor by tensor.

    float32: the two gradients plus one chunk x V buffer (logits, then G in
    place). Low precision: the larger of the forward pass (a chunk of logits
    and its float32 copy) and the backward pass (the two gradients, float32
    accumulators N x D for dL/dH and vb x D for a block of dL/dW, a chunk x vb
    tile and its float32 copy), with vb = ceil(chunk V / D). Plus six float32
    numbers per row. Not counted: workspaces of the matrix products (e.g. the
    conversion of bfloat16 operands on CPUs without bfloat16 arithmetic).
    """
    c = min(chunk, n)
    grads = (n * d + v * d) * itemsize
    per_row = 6 * 4 * n
    if itemsize >= 4:
        return grads + c * v * itemsize + per_row
    vb = max(1, min(v, -(-c * v // d)))
    forward = c * v * (itemsize + 4)
    backward = (
        grads + (n * d * 4 if vb < v else 0) + vb * d * 4 + c * vb * (itemsize + 4)
    )
    return max(forward, backward) + per_row


def cpu_sweep(args):
    configs = [(n, args.v, "N") for n in args.ns] + [(args.n, v, "V") for v in args.vs]
    rows = []
    for n, v, sweep in configs:
        mem = {}
        for m in METHODS:
            spec = {
                "method": m,
                "n": n,
                "d": args.d,
                "v": v,
                "chunk": args.chunk,
                "alpha": args.alpha,
                "dtype": args.dtype,
                "threads": args.threads,
            }
            mem[m] = C.run_child(__file__, spec, args.threads)
        itemsize = DTYPES[args.dtype].itemsize
        rows.append(
            {
                "sweep": sweep,
                "n": n,
                "v": v,
                "memory": mem,
                "logits_bytes": n * v * itemsize,
                "predicted_chunked": predicted_chunked_bytes(
                    n, args.d, v, args.chunk, itemsize
                ),
            }
        )
        print(f"N={n} V={v} done ({C.load_note()})", flush=True)
    print()
    print(
        f"CPU, {args.dtype}, D = {args.d}, chunk_size = {args.chunk}, alpha = {args.alpha}; "
        "peak bytes beyond the inputs during forward + backward, MiB (allocator / RSS)"
    )
    print()
    print(
        "| N | V | N x V logits | naive-torch | naive-lsmath | chunked "
        "| chunked, predicted | chunked / naive-torch |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        m = r["memory"]
        cell = lambda x: f"{C.fmt_mib(x['alloc'])} / {C.fmt_mib(x['rss'])}"  # noqa: E731
        print(
            f"| {r['n']} | {r['v']} | {C.fmt_mib(r['logits_bytes'])} | {cell(m['naive-torch'])} "
            f"| {cell(m['naive-lsmath'])} | {cell(m['chunked'])} "
            f"| {C.fmt_mib(r['predicted_chunked'])} "
            f"| {m['chunked']['alloc'] / m['naive-torch']['alloc']:.3f} |"
        )
    return rows


def timing(args, device, n, d, v, chunk, dtype, clock):
    fns = step_fns(METHODS, args.alpha, chunk, *make_inputs(n, d, v, dtype, device))
    times = C.interleaved_times(fns, args.rounds, args.threads, clock, min_round_s=0.0)
    print()
    print(
        f"{device}, {dtype}, N = {n}, D = {d}, V = {v}, chunk_size = {chunk}: forward + backward, "
        f"{args.rounds} interleaved rounds, {clock} clock"
    )
    print()
    print(
        "| method | ms, median [IQR] | ratio to naive-torch, median of paired [IQR] |"
    )
    print("|---|---|---|")
    for m in METHODS:
        q, r = C.quantiles(times[m]), C.paired_ratio(times, m, "naive-torch")
        print(
            f"| {m} | {C.fmt_ms(q[0])} [{C.fmt_ms(q[1])}, {C.fmt_ms(q[2])}] "
            f"| {r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}] |"
        )
    return times


def cuda_run(args):
    dev = torch.device("cuda")
    dtype = DTYPES[args.dtype]
    n, d, v = args.n, args.d, args.v
    chunk = args.chunk or _default_chunk_size(n, d, v)
    print(f"{torch.cuda.get_device_name(dev)}, torch {torch.__version__}")
    h, w, t = make_inputs(n, d, v, dtype, dev)
    results = {}
    losses = {}
    for m in METHODS:
        f = loss_fn(m, args.alpha, chunk)
        out = {}

        def run(f=f, out=out):
            loss = f(h, w, t)
            loss.backward()
            out["loss"] = loss.item()

        run()  # warm-up (cuBLAS handles, kernels)
        h.grad = w.grad = None
        torch.cuda.empty_cache()
        results[m] = {"alloc": peak_memory_bytes(run, dev), "rss": None}
        losses[m] = out["loss"]
        h.grad = w.grad = None
        torch.cuda.empty_cache()
    print()
    print(
        f"CUDA, {args.dtype}, N = {n}, D = {d}, V = {v}, "
        f"chunk_size = {chunk}, alpha = {args.alpha}: "
        "peak torch.cuda.max_memory_allocated beyond the inputs, forward + backward"
    )
    print()
    print("| method | loss | peak MiB | ratio to naive-torch |")
    print("|---|---|---|---|")
    for m in METHODS:
        print(
            f"| {m} | {losses[m]:.4f} | {C.fmt_mib(results[m]['alloc'])} "
            f"| {results[m]['alloc'] / results['naive-torch']['alloc']:.3f} |"
        )
    print(
        f"(N x V logits in {args.dtype}: {C.fmt_mib(n * v * dtype.itemsize)} MiB; "
        "predicted chunked peak: "
        f"{C.fmt_mib(predicted_chunked_bytes(n, d, v, chunk, dtype.itemsize))} MiB)"
    )
    h = w = t = None  # free the inputs before timing
    torch.cuda.empty_cache()
    times = timing(args, "cuda", n, d, v, chunk, dtype, "cuda")
    return {"memory": results, "losses": losses, "times": times, "chunk": chunk}


def time_grid(args):
    """Wall-clock or CPU time of naive-torch and chunked at every (N, V) of the sweeps.

    Where ``ls_linear_cross_entropy`` stops paying for its memory saving in
    time (issue 18: bfloat16 on CPU), as the ratio chunked / naive-torch.
    """
    dtype = DTYPES[args.dtype]
    rows = []
    for n in args.ns:
        for v in args.vs:
            chunk = args.chunk or _default_chunk_size(n, args.d, v)
            inputs = make_inputs(n, args.d, v, dtype, "cpu")
            fns = step_fns(("naive-torch", "chunked"), args.alpha, chunk, *inputs)
            times = C.interleaved_times(
                fns, args.rounds, args.threads, args.clock, min_round_s=0.0
            )
            rows.append({"n": n, "v": v, "chunk": chunk, "times": times})
            print(f"N={n} V={v} done ({C.load_note()})", flush=True)
    print()
    print(
        f"CPU, {args.dtype}, D = {args.d}, alpha = {args.alpha}, "
        f"{args.threads} thread(s), {args.clock} clock, {args.rounds} interleaved rounds; "
        "forward + backward"
    )
    print()
    print(
        "| N | V | chunk_size | naive-torch ms, median [IQR] | chunked ms, median [IQR] "
        "| ratio chunked / naive-torch, median of paired [IQR] |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        qn = C.quantiles(r["times"]["naive-torch"])
        qc = C.quantiles(r["times"]["chunked"])
        ratio = C.paired_ratio(r["times"], "chunked", "naive-torch")
        print(
            f"| {r['n']} | {r['v']} | {r['chunk']} "
            f"| {C.fmt_ms(qn[0])} [{C.fmt_ms(qn[1])}, {C.fmt_ms(qn[2])}] "
            f"| {C.fmt_ms(qc[0])} [{C.fmt_ms(qc[1])}, {C.fmt_ms(qc[2])}] "
            f"| {ratio[0]:.2f} [{ratio[1]:.2f}, {ratio[2]:.2f}] |"
        )
    return rows


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument(
        "--n", type=int, help="rows (CPU: the N of the V sweep; CUDA default 8192)"
    )
    ap.add_argument(
        "--d", type=int, help="hidden size (CPU default 128, CUDA default 4096)"
    )
    ap.add_argument(
        "--v",
        type=int,
        help="vocabulary (CPU: the V of the N sweep; CUDA default 128256)",
    )
    ap.add_argument(
        "--ns",
        type=int,
        nargs="+",
        default=[512, 1024, 2048, 4096],
        help="CPU: N sweep",
    )
    ap.add_argument(
        "--vs",
        type=int,
        nargs="+",
        default=[8000, 16000, 32000, 64000],
        help="CPU: V sweep",
    )
    ap.add_argument(
        "--chunk",
        type=int,
        help="chunk_size (CPU default 256; CUDA default about N*D/V; 0: lsmath's "
        "default, about N*D/V)",
    )
    ap.add_argument(
        "--dtype",
        choices=list(DTYPES),
        help="CPU default float32, CUDA default bfloat16",
    )
    ap.add_argument(
        "--rounds", type=int, default=7, help="interleaved timing rounds (0: no timing)"
    )
    C.add_timing_arguments(ap)
    ap.add_argument(
        "--time-grid",
        action="store_true",
        help="CPU: time naive-torch and chunked at every (N, V) in --ns x --vs (no memory)",
    )
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(json.loads(args.child))
    args.threads = C.resolve_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        args.n, args.d, args.v = args.n or 8192, args.d or 4096, args.v or 128256
        args.dtype = args.dtype or "bfloat16"
        res = cuda_run(args)
    else:
        args.n, args.d, args.v = args.n or 2048, args.d or 128, args.v or 32000
        args.dtype = args.dtype or "float32"
        print(
            f"torch {torch.__version__}, {args.threads} thread(s), {C.load_note()}",
            flush=True,
        )
        if args.time_grid:
            res = {"grid": time_grid(args)}
            print(f"\n({C.load_note()})")
            if args.json:
                Path(args.json).write_text(json.dumps(res, indent=1))
            return
        args.chunk = 256 if args.chunk is None else args.chunk
        res = {"sweep": cpu_sweep(args)}
        if args.rounds:
            res["times"] = timing(
                args,
                "cpu",
                args.n,
                args.d,
                args.v,
                args.chunk,
                DTYPES[args.dtype],
                args.clock,
            )
        print(f"\n({C.load_note()})")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
