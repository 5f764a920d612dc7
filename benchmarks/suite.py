"""The benchmark's core: the same step in each implementation, checked against each other, then timed."""

import importlib
import os
import time

import numpy as np

import workloads
from numpy_floor import Floor, scatter_add

TOLERANCE = {"float64": 1e-9, "float32": 1e-4}  # relative to the largest entry of each gradient


# The other libraries measured: module, class, and how to install them. Each has only dense gradients
# (the sparse rows leave their cells empty) and is measured only when installed.
PEERS = {
    "autograd": ("autograd", "autograd_models", "AutogradModel", "pip install autograd"),
    "mygrad": ("mygrad", "mygrad_models", "MyGradModel", "pip install mygrad"),
    "jax": ("jax", "jax_models", "JaxModel", 'pip install "jax[cpu]"'),
    "jax_jit": ("jax", "jax_models", "JaxJitModel", 'pip install "jax[cpu]"'),
}
NAMES = ("edugrad", "floor", "torch", *PEERS)
DENSE_ONLY = set(PEERS)  # implementations without row-sparse embedding gradients


def implementations(names=("edugrad", "floor", "torch"), threads: int = 1) -> dict:
    """The implementation classes by name; PyTorch and the peers only if they are installed."""
    from edugrad_models import EdugradModel

    classes = {"edugrad": EdugradModel, "floor": Floor}
    classes = {name: cls for name, cls in classes.items() if name in names}
    if "torch" in names:
        try:
            import torch

            torch.set_num_threads(threads)
            from torch_models import TorchModel

            classes["torch"] = TorchModel
        except ImportError:
            print("PyTorch is not installed: its column stays empty (pip install torch==2.13.0)")
    if threads == 1:  # XLA's own thread pool (read when jax loads)
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    missing = set()
    for name in [name for name in PEERS if name in names]:
        package, module, class_name, install = PEERS[name]
        try:
            classes[name] = getattr(importlib.import_module(module), class_name)
        except ModuleNotFoundError as error:
            if (error.name or "").split(".")[0] != package:
                raise
            if package not in missing:
                print(f"{package} is not installed: its columns stay empty ({install})")
            missing.add(package)
    return classes


def for_gradient(classes: dict, gradient: str) -> dict:
    """The implementations that have this kind of embedding gradient."""
    return {name: cls for name, cls in classes.items() if gradient == "dense" or name not in DENSE_ONLY}


def make(cls, workload, gradient, dtype, seed=0):
    """An implementation with the shared weights, and the shared batch in the form it takes."""
    model = cls(workload, workloads.weights(workload, dtype, seed), sparse=gradient == "sparse")
    batch = workloads.batch(workload, dtype)
    for convert in ("to_torch", "to_device"):  # the batch as the library's arrays, once
        if hasattr(model, convert):
            return model, getattr(model, convert)(batch)
    return model, batch


def dense(grad, like):
    if isinstance(grad, tuple):  # the floor's (rows, values)
        array = np.zeros_like(like)
        scatter_add(array, *grad)
        return array
    return np.asarray(grad)


def gradient_errors(classes, workload, gradient, dtype) -> dict:
    """Largest difference from the floor's loss and gradients, relative to their size, per implementation."""
    weights = workloads.weights(workload, dtype)
    results = {}
    for name, cls in for_gradient(classes, gradient).items():
        model, batch = make(cls, workload, gradient, dtype)
        loss, grads = model.gradients(batch)
        results[name] = (loss, {key: dense(grad, weights[key]) for key, grad in grads.items()})
    floor_loss, floor_grads = results["floor"]
    errors = {}
    for name, (loss, grads) in results.items():
        if set(grads) != set(floor_grads):
            raise AssertionError(f"{workload.name}: {name} has parameters {sorted(grads)}, the floor {sorted(floor_grads)}")
        relative = [abs(loss - floor_loss) / max(abs(floor_loss), 1e-30)]
        for key, expected in floor_grads.items():
            relative.append(float(np.max(np.abs(grads[key] - expected)) / max(np.max(np.abs(expected)), 1e-30)))
        errors[name] = float(max(relative))
    return errors


def check_gradients(classes, workload, gradient, dtype) -> dict:
    errors = gradient_errors(classes, workload, gradient, dtype)
    wrong = {name: error for name, error in errors.items() if error > TOLERANCE[dtype]}
    if wrong:
        raise AssertionError(f"{workload.name} ({gradient}, {dtype}): gradients differ from the floor's: {wrong}")
    return errors


def time_steps(classes, workload, gradient, dtype, rounds, block_seconds, clock=time.perf_counter) -> dict:
    """Seconds per step of each implementation: interleaved rounds of a block of steps each.

    ``clock`` is the wall clock, or ``time.process_time`` (the CPU time of this process, which on
    a machine shared with other work leaves out the time the process waited for a core)."""
    prepared = {name: make(cls, workload, gradient, dtype) for name, cls in for_gradient(classes, gradient).items()}
    steps_per_block = {}
    for name, (model, batch) in prepared.items():
        model.step(batch)  # warm up: first-touch allocations, lazy initialisation
        start, count = time.perf_counter(), 0
        while time.perf_counter() - start < block_seconds or count < 3:
            model.step(batch)
            count += 1
        steps_per_block[name] = max(1, round(count * block_seconds / (time.perf_counter() - start)))
    times = {name: [] for name in prepared}
    names = list(prepared)
    for round_number in range(rounds):
        for name in names[round_number % len(names):] + names[: round_number % len(names)]:
            model, batch = prepared[name]
            start = clock()
            for _ in range(steps_per_block[name]):
                model.step(batch)
            times[name].append((clock() - start) / steps_per_block[name])
    return times


def summary(seconds: list) -> dict:
    milliseconds = 1000 * np.array(seconds)
    return {"median": float(np.median(milliseconds)), "min": float(milliseconds.min()), "max": float(milliseconds.max())}
