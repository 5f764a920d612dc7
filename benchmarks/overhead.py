"""What one operation costs beyond its arithmetic: a chain of 100 tiny operations, forward and backward.

The chain starts from a numpy array of 4 numbers and alternates ``tanh`` and a
multiplication by a constant, 100 operations in all, then sums the 4 results
and asks for the gradient of the sum with respect to the start (as a numpy
array). On 4 numbers the arithmetic is nothing: what is measured is each
library's bookkeeping per operation (making the output object, recording the
graph, dispatching the backward). The same chain in plain numpy, its backward
written out by hand, shows what numpy's own calls cost.

    python benchmarks/overhead.py            # prints microseconds per operation
    python benchmarks/run.py --overhead-only  # writes them into benchmarks/results.json

Every implementation's gradient is first checked against the hand-written one.
Then each is timed in interleaved rounds, as suite.time_steps times the
training steps, by the wall clock and by this process's CPU time at once;
the figures are the medians over the rounds, divided by the number of operations.
"""

import time

import numpy as np

LENGTH = 100  # operations in the chain: tanh and multiply, alternating
FACTOR = 1.1  # the constant (it keeps the chain away from tanh's flat tails)
SIZE = 4
TOLERANCE = 1e-12  # float64, relative to the largest entry of the gradient


def start(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, SIZE)


def numpy_gradient(x: np.ndarray) -> np.ndarray:
    """The chain and its backward by hand: numpy calls and nothing else."""
    outputs = []
    for index in range(LENGTH):
        if index % 2 == 0:
            x = np.tanh(x)
            outputs.append(x)
        else:
            x = x * FACTOR
    grad = np.ones_like(x)
    for index in reversed(range(LENGTH)):
        grad = grad * (1 - outputs[index // 2] ** 2) if index % 2 == 0 else grad * FACTOR
    return grad


def chain(x, tanh):
    """The forward chain, written once for every library whose arrays multiply with ``*``."""
    for index in range(LENGTH):
        x = tanh(x) if index % 2 == 0 else x * FACTOR
    return x


def edugrad_gradient():
    from edugrad import Tensor, ops

    def gradient(x: np.ndarray) -> np.ndarray:
        leaf = Tensor(x)
        ops.reduce_sum(chain(leaf, ops.tanh)).backward()
        return leaf.grad

    return gradient


def torch_gradient():
    import torch

    def gradient(x: np.ndarray) -> np.ndarray:
        leaf = torch.tensor(x, requires_grad=True)
        chain(leaf, torch.tanh).sum().backward()
        return leaf.grad.numpy()

    return gradient


def autograd_gradient():
    import autograd.numpy as anp
    from autograd import grad

    return grad(lambda x: anp.sum(chain(x, anp.tanh)))


def mygrad_gradient():
    import mygrad as mg

    def gradient(x: np.ndarray) -> np.ndarray:
        leaf = mg.Tensor(x)
        chain(leaf, mg.tanh).sum().backward()
        return leaf.grad

    return gradient


def jax_gradient():
    import os

    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # float64, as the others

    differentiate = jax.grad(lambda x: chain(x, jnp.tanh).sum())  # eager: no jax.jit
    return lambda x: np.asarray(differentiate(x))


# name: (factory, how to install it); the factory imports the library
IMPLEMENTATIONS = {
    "numpy": (lambda: numpy_gradient, None),
    "edugrad": (edugrad_gradient, None),
    "torch": (torch_gradient, "pip install torch==2.13.0"),
    "autograd": (autograd_gradient, "pip install autograd"),
    "mygrad": (mygrad_gradient, "pip install mygrad"),
    "jax": (jax_gradient, 'pip install "jax[cpu]"'),
}


def implementations(names=tuple(IMPLEMENTATIONS), threads: int = 1) -> dict:
    """The gradient functions of the installed libraries, by name; a missing one prints how to install it."""
    functions = {}
    for name in names:
        factory, install = IMPLEMENTATIONS[name]
        try:
            functions[name] = factory()
        except ModuleNotFoundError as error:
            if install is None or (error.name or "").split(".")[0] != name:
                raise
            print(f"{name} is not installed: its overhead is not measured ({install})")
    if "torch" in functions:
        import torch

        torch.set_num_threads(threads)
    return functions


def gradient_errors(functions: dict) -> dict:
    """Each implementation's largest difference from the hand-written gradient, relative to its largest entry."""
    x = start()
    expected = numpy_gradient(x)
    errors = {}
    for name, gradient in functions.items():
        got = np.asarray(gradient(x.copy()))
        if got.shape != expected.shape or got.dtype != expected.dtype:
            raise AssertionError(f"overhead chain: {name}'s gradient is {got.dtype}{list(got.shape)}, "
                                 f"expected {expected.dtype}{list(expected.shape)}")
        errors[name] = float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))
    return errors


def check_gradients(functions: dict) -> dict:
    errors = gradient_errors(functions)
    wrong = {name: error for name, error in errors.items() if not error <= TOLERANCE}
    if wrong:
        raise AssertionError(f"overhead chain: gradients differ from the hand-written one's: {wrong}")
    return errors


def measure(functions: dict, rounds: int = 15, block_seconds: float = 0.05) -> dict:
    """Microseconds per operation of each implementation: the medians of interleaved rounds, wall and CPU."""
    x = start()
    calls_per_block = {}
    for name, gradient in functions.items():
        gradient(x)  # warm up
        begin, count = time.perf_counter(), 0
        while time.perf_counter() - begin < block_seconds or count < 3:
            gradient(x)
            count += 1
        calls_per_block[name] = max(1, round(count * block_seconds / (time.perf_counter() - begin)))
    wall, cpu = ({name: [] for name in functions} for _ in range(2))
    names = list(functions)
    for round_number in range(rounds):
        for name in names[round_number % len(names):] + names[: round_number % len(names)]:
            gradient, calls = functions[name], calls_per_block[name]
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(calls):
                gradient(x)
            cpu[name].append((time.process_time() - cpu_start) / calls)
            wall[name].append((time.perf_counter() - wall_start) / calls)
    per_op = lambda seconds: 1e6 * float(np.median(seconds)) / LENGTH  # noqa: E731
    return {name: {"wall_us_per_op": per_op(wall[name]), "cpu_us_per_op": per_op(cpu[name]),
                   "calls_per_round": calls_per_block[name]} for name in names}


def run(names=tuple(IMPLEMENTATIONS), rounds: int = 15, block_seconds: float = 0.05, threads: int = 1) -> dict:
    """The results file's "overhead" entry: the chain, the gradient check, the figures."""
    functions = implementations(names, threads)
    errors = check_gradients(functions)
    return {"chain": f"{LENGTH} operations (tanh and multiply by {FACTOR}, alternating) on float64[{SIZE}], "
                     f"forward and backward, from a numpy array to the gradient as a numpy array",
            "operations": LENGTH, "rounds": rounds, "gradient_error": errors,
            "us_per_op": measure(functions, rounds, block_seconds)}


def print_table(overhead: dict) -> None:
    print(f"\n{overhead['chain']}")
    print(f"{'':<9} {'wall µs/op':>11} {'CPU µs/op':>10}")
    for name, figures in overhead["us_per_op"].items():
        print(f"{name:<9} {figures['wall_us_per_op']:11.2f} {figures['cpu_us_per_op']:10.2f}")


if __name__ == "__main__":
    import os
    import sys
    from pathlib import Path

    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    print_table(run())
