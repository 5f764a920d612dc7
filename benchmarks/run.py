"""How fast is edugrad? One training step of each workload, in edugrad, in hand-written numpy, PyTorch and other libraries.

    python benchmarks/run.py                      # everything; writes benchmarks/results.json
    python benchmarks/run.py --skip-book          # without the cold book build (several minutes)
    python benchmarks/run.py --quick --output /tmp/r.json   # small sizes, a few seconds
    python benchmarks/run.py --workloads lstm_lm --clock cpu --merge   # re-measure some rows, keep the others
    python benchmarks/run.py --implementations edugrad floor torch   # without the other libraries
    python benchmarks/run.py --overhead-only      # only the cost per operation (benchmarks/overhead.py), merged in
    python benchmarks/run.py --book-only          # only a cold build of the book, merged in

A step is forward, loss, backward and the SGD update. For each workload, data
type and kind of embedding gradient, the script first checks that the three
implementations compute the same loss and gradients from the same weights,
then times them in interleaved rounds (so that a busy moment of the machine
hits all alike) and reports the median time per step, its range, and
the ratios edugrad/floor and edugrad/torch. Peak memory is measured in a
fresh process per implementation. All use the same number of threads.
The other libraries (HIPS autograd, MyGrad, JAX eager and JAX with the whole
step compiled by jax.jit) are measured when installed, in the dense rows only:
none of them has row-sparse gradients. With --overhead (or --overhead-only)
it also measures what one tiny operation costs, forward and backward, in each
library (benchmarks/overhead.py), under the results' key "overhead".
For the LSTM language model it also records where the step's time goes and
what fused LSTM and GRU cells would save (benchmarks/lstm_analysis.py).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


WORKLOADS = ["mlp", "dan", "nplm", "sgns", "lstm_lm"]
IMPLEMENTATIONS = ["edugrad", "floor", "torch", "autograd", "mygrad", "jax", "jax_jit"]  # suite.NAMES


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds (for tests)")
    parser.add_argument("--workloads", nargs="+", default=WORKLOADS, choices=WORKLOADS)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--gradients", nargs="+", default=["dense", "sparse"], choices=["dense", "sparse"],
                        help="the kinds of embedding gradient measured")
    parser.add_argument("--implementations", nargs="+", default=IMPLEMENTATIONS, choices=IMPLEMENTATIONS,
                        help="edugrad and the floor are always measured; the others when installed")
    parser.add_argument("--overhead", action="store_true", help="also measure the cost per operation (benchmarks/overhead.py)")
    parser.add_argument("--overhead-only", action="store_true",
                        help="measure only the cost per operation, and merge it into --output (its rows are kept)")
    parser.add_argument("--threads", type=int, default=1, help="threads for OpenBLAS and PyTorch (default 1)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per implementation")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-book", action="store_true", help="do not time a cold book build")
    parser.add_argument("--book-only", action="store_true",
                        help="time only a cold book build, and merge it into --output (its rows are kept)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="time steps by the wall clock, or by this process's CPU time (for a machine busy with other work)")
    parser.add_argument("--merge", action="store_true",
                        help="replace only this run's rows in --output, keep its other rows (and its tangle and book times)")
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    parser.add_argument("--memory-probe", nargs=4, metavar=("IMPL", "WORKLOAD", "GRADIENT", "DTYPE"), help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.threads < 1 or (arguments.rounds is not None and arguments.rounds < 1):
        parser.error("--threads and --rounds must be at least 1")
    return arguments


ARGUMENTS = parse_arguments()
# Thread counts are read when numpy and torch load: set them first.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(ARGUMENTS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, str(HERE))
import workloads  # noqa: E402
from suite import check_gradients, for_gradient, implementations, make, summary, time_steps  # noqa: E402

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def peak_memory(implementation, workload_name, gradient, dtype) -> float:
    """Megabytes the training process grows to above the loaded libraries: weights, gradients, temporaries."""
    command = [sys.executable, __file__, "--threads", str(ARGUMENTS.threads), *(["--quick"] if ARGUMENTS.quick else []),
               "--memory-probe", implementation, workload_name, gradient, dtype]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"memory probe {command[3:]} failed:\n{result.stderr}")
    return float(result.stdout.split()[-1])


def resident_kilobytes(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def memory_probe(implementation, workload_name, gradient, dtype):
    """(in a fresh process) peak resident memory of 5 steps, above the process with its libraries loaded."""
    classes = implementations([implementation], ARGUMENTS.threads)
    workload = (workloads.SMALL if ARGUMENTS.quick else workloads.FULL)[workload_name]
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak ("high-water mark") to the current size
    before = resident_kilobytes("VmRSS")
    model, batch = make(classes[implementation], workload, gradient, dtype)
    for _ in range(5):
        model.step(batch)
    print((resident_kilobytes("VmHWM") - before) / 1024)


def timed_command(command, repeats=1) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def machine() -> str:
    sys.path.insert(0, str(ROOT / "examples"))
    from machine import describe

    return describe()


def versions() -> dict:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import edugrad

    found = {"python": platform.python_version(), "numpy": np.__version__, "edugrad": edugrad.__version__}
    for package in ("torch", "autograd", "mygrad", "jax", "jaxlib"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def print_header(names):
    header = f"{'workload':<8} {'gradient':<8} {'dtype':<8} " + " ".join(f"{name + ' ms':>11}" for name in names) + \
             f" {'ed/floor':>8} {'ed/torch':>8}  peak MB {'/'.join(names)}"
    print(header)
    print("-" * len(header))


def print_row(row, names):
    t = row["ms_per_step"]
    times = " ".join(f"{t[name]['median']:11.3f}" if name in t else f"{'-':>11}" for name in names)
    versus_torch = f"{row['edugrad/torch']:8.2f}" if "edugrad/torch" in row else f"{'-':>8}"
    memory = "/".join(f"{row['peak_mb'][k]:.1f}" for k in row.get("peak_mb", {})) or "-"
    print(f"{row['workload']:<8} {row['gradient']:<8} {row['dtype']:<8} {times} {row['edugrad/floor']:8.2f} "
          f"{versus_torch}  {memory}")


def measure_overhead() -> dict:
    import overhead

    rounds = ARGUMENTS.rounds or (3 if ARGUMENTS.quick else 15)
    figures = overhead.run(rounds=rounds, block_seconds=0.005 if ARGUMENTS.quick else 0.05, threads=ARGUMENTS.threads)
    overhead.print_table(figures)
    return figures


def cold_book_build_seconds() -> float:
    """Seconds for a build of the whole book into an empty directory."""
    import tempfile

    with tempfile.TemporaryDirectory() as output:
        return timed_command(["jupyter-book", "build", "--all", "--path-output", output, "."])


def merge_overhead(figures):
    """Put the overhead figures into --output under "overhead", keeping everything else in it."""
    results = json.loads(ARGUMENTS.output.read_text()) if ARGUMENTS.output.exists() else {}
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    results["overhead"] = {**figures, "command": command, "date": time.strftime("%Y-%m-%d"), "machine": machine(),
                           "versions": versions(), "threads": ARGUMENTS.threads}
    ARGUMENTS.output.write_text(json.dumps(results, indent=1) + "\n")
    print(f"overhead merged into {ARGUMENTS.output}")


def lstm_analysis(classes, workload, gradient, dtype, rounds) -> dict:
    """Where the LSTM LM's step goes (the floor by phase, edugrad by profile) and what fused cells save."""
    import lstm_analysis

    clock = ARGUMENTS.clock
    floor, batch = make(classes["floor"], workload, gradient, dtype)
    edugrad_model, _ = make(classes["edugrad"], workload, gradient, dtype)
    profile_steps = 2 if ARGUMENTS.quick else 5
    fresh = subprocess.run([sys.executable, str(HERE / "lstm_analysis.py"), *(["--quick"] if ARGUMENTS.quick else []), clock],
                           capture_output=True, text=True, timeout=600, check=True)
    return {
        "edugrad_fresh_process": json.loads(fresh.stdout),
        "floor_phases_ms": lstm_analysis.floor_phases(floor, batch, profile_steps, clock),
        "edugrad_profile": lstm_analysis.edugrad_profile(edugrad_model, batch, profile_steps, clock),
        "fused_cells": lstm_analysis.fused_cell_times(lambda: make(classes["edugrad"], workload, gradient, dtype)[0],
                                                      batch, rounds, clock),
    }


def merge(results, rows, table, command):
    """Put this run's rows into an earlier results file in place of the same rows, keep the rest, and say so."""
    measured = {(row["workload"], row["gradient"], row["dtype"]) for row in rows}
    kept = [row for row in results["rows"] if (row["workload"], row["gradient"], row["dtype"]) not in measured]
    for row in rows:
        row["command"], row["date"] = command, time.strftime("%Y-%m-%d")
    results["rows"] = kept + rows
    results["sizes"].update({name: table[name].sizes for name in ARGUMENTS.workloads})
    order = {name: index for index, name in enumerate(WORKLOADS)}
    results["sizes"] = dict(sorted(results["sizes"].items(), key=lambda item: order[item[0]]))
    results["rows"].sort(key=lambda row: order[row["workload"]])  # stable: the earlier rows keep their order
    results.setdefault("merged", []).append({"command": command, "date": time.strftime("%Y-%m-%d"),
                                             "machine": machine(), "versions": versions(),
                                             "rows": [[row["workload"], row["gradient"], row["dtype"]] for row in rows]})
    ARGUMENTS.output.write_text(json.dumps(results, indent=1) + "\n")
    print(f"merged into {ARGUMENTS.output}")


def main():
    if ARGUMENTS.memory_probe:
        memory_probe(*ARGUMENTS.memory_probe)
        return
    if ARGUMENTS.threads == 1:  # XLA's own thread pool, read when jax loads
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    if ARGUMENTS.overhead_only:
        merge_overhead(measure_overhead())
        return
    if ARGUMENTS.book_only:
        results = json.loads(ARGUMENTS.output.read_text())
        results["book_build_seconds"] = cold_book_build_seconds()
        results["book_build"] = {"command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
                                 "date": time.strftime("%Y-%m-%d"), "machine": machine()}
        ARGUMENTS.output.write_text(json.dumps(results, indent=1) + "\n")
        print(f"cold book build: {results['book_build_seconds']:.0f} s, merged into {ARGUMENTS.output}")
        return
    classes = implementations(["edugrad", "floor", *ARGUMENTS.implementations], threads=ARGUMENTS.threads)
    table = workloads.SMALL if ARGUMENTS.quick else workloads.FULL
    rounds = ARGUMENTS.rounds or (3 if ARGUMENTS.quick else 15)
    block_seconds = 0.005 if ARGUMENTS.quick else 0.1
    rows = []
    print_header(list(classes))
    for workload_name in ARGUMENTS.workloads:
        workload = table[workload_name]
        for gradient in [gradient for gradient in workload.gradients if gradient in ARGUMENTS.gradients]:
            for dtype in [dtype for dtype in ARGUMENTS.dtypes if dtype in workload.dtypes]:
                errors = check_gradients(classes, workload, gradient, dtype)
                times = time_steps(classes, workload, gradient, dtype, rounds, block_seconds, CLOCKS[ARGUMENTS.clock])
                row = {"workload": workload_name, "gradient": gradient, "dtype": dtype,
                       "ms_per_step": {name: summary(seconds) for name, seconds in times.items()},
                       "gradient_error": errors, "rounds": rounds, "clock": ARGUMENTS.clock}
                medians = {name: row["ms_per_step"][name]["median"] for name in times}
                row["edugrad/floor"] = medians["edugrad"] / medians["floor"]
                if "torch" in medians:
                    row["edugrad/torch"] = medians["edugrad"] / medians["torch"]
                    row["floor/torch"] = medians["floor"] / medians["torch"]
                for name in [name for name in medians if name not in ("edugrad", "floor", "torch")]:
                    row[f"edugrad/{name}"] = medians["edugrad"] / medians[name]
                if not ARGUMENTS.skip_memory:
                    row["peak_mb"] = {name: peak_memory(name, workload_name, gradient, dtype)
                                      for name in for_gradient(classes, gradient)}
                if workload_name == "lstm_lm":
                    row.update(lstm_analysis(classes, workload, gradient, dtype, rounds))
                rows.append(row)
                print_row(row, list(classes))
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    overhead = measure_overhead() if ARGUMENTS.overhead else None
    if ARGUMENTS.merge and ARGUMENTS.output.exists():
        merge(json.loads(ARGUMENTS.output.read_text()), rows, table, command)
        if overhead is not None:
            merge_overhead(overhead)
        return
    results = {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "threads": ARGUMENTS.threads,
        "versions": versions(),
        "sizes": {name: table[name].sizes for name in ARGUMENTS.workloads},
        "rows": rows,
    }
    if overhead is not None:
        results["overhead"] = {**overhead, "command": command, "date": results["date"], "machine": results["machine"],
                               "versions": results["versions"], "threads": ARGUMENTS.threads}
    if not ARGUMENTS.quick:  # (tangling rewrites edugrad/: not from a test)
        results["tangle_seconds"] = timed_command([sys.executable, "tangle.py"], repeats=3)
    ARGUMENTS.output.write_text(json.dumps(results, indent=1) + "\n")
    if not ARGUMENTS.skip_book and not ARGUMENTS.quick:
        results["book_build_seconds"] = cold_book_build_seconds()  # the book's appendix reads the file just written
    if "tangle_seconds" in results:
        print(f"\npython tangle.py: {results['tangle_seconds']:.2f} s")
    if "book_build_seconds" in results:
        print(f"cold book build: {results['book_build_seconds']:.0f} s")
    ARGUMENTS.output.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written to {ARGUMENTS.output}")


if __name__ == "__main__":
    main()
