"""Where the LSTM language model's step goes, and what fused cells would save.

Three measurements for the lstm_lm row of results.json:

* ``floor_phases``: the hand-written numpy step, phase by phase (the output layer's products,
  the softmax cross-entropy, the recurrences, ...): what the arithmetic itself costs.
* ``edugrad_profile``: edugrad's step under cProfile, its functions' own time grouped by
  what they do (products, summing gradients, the engine's bookkeeping, ...).
* ``fused_cells``: edugrad's step with the composition of chapter "LSTM and GRU" (``lstm_step``,
  ``gru_step``) against the same step with one fused operation per cell, whose backward is that
  chapter's gate derivation (eq-lstm-vjp-output to eq-lstm-vjp-gates, eq-gru-vjp-mix and
  eq-gru-vjp-gates); for the GRU, the same language model with ``nn.GRU`` in place of ``nn.LSTM``.
"""

import cProfile
import pstats
import time
from contextlib import contextmanager, nullcontext

import numpy as np

from edugrad import Tensor, nn, ops, optim
from edugrad import tensor as tensor_module
from edugrad.tensor import Operation, tensor_op

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))  # stable for any a


@tensor_op
class lstm_cell_update(Operation):
    """[h', c'] (stacked) from the gates' pre-activations [batch, 4 * hidden] and the cell c [batch, hidden]."""

    @staticmethod
    def forward(ctx, gates, c):
        a_i, a_f, a_g, a_o = np.split(gates, 4, axis=-1)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
        c_new = f * c + i * g  # eq-lstm-state
        tanh_c = np.tanh(c_new)
        ctx.extend([c, i, f, g, o, tanh_c])
        return np.stack([o * tanh_c, c_new])

    @staticmethod
    def backward(ctx, grad_output):
        c, i, f, g, o, tanh_c = ctx
        grad_h, grad_c = grad_output
        grad_o = grad_h * tanh_c  # eq-lstm-vjp-output
        grad_c = grad_c + grad_h * o * (1 - tanh_c**2)
        grad_gates = np.concatenate([  # eq-lstm-vjp-cell, then eq-lstm-vjp-gates
            grad_c * g * i * (1 - i), grad_c * c * f * (1 - f), grad_c * i * (1 - g**2), grad_o * o * (1 - o)], axis=-1)
        return grad_gates, grad_c * f


@tensor_op
class gru_cell_update(Operation):
    """h' from the input's and the state's shares of the gates [batch, 3 * hidden] and h [batch, hidden]."""

    @staticmethod
    def forward(ctx, input_part, hidden_part, h):
        input_r, input_z, input_n = np.split(input_part, 3, axis=-1)
        hidden_r, hidden_z, hidden_n = np.split(hidden_part, 3, axis=-1)
        r, z = sigmoid(input_r + hidden_r), sigmoid(input_z + hidden_z)  # eq-gru
        n = np.tanh(input_n + r * hidden_n)
        ctx.extend([h, r, z, n, hidden_n])
        return (1 - z) * n + z * h

    @staticmethod
    def backward(ctx, grad_output):
        h, r, z, n, hidden_n = ctx
        grad_a_n = grad_output * (1 - z) * (1 - n**2)  # eq-gru-vjp-mix, then eq-gru-vjp-gates
        grad_a_r = grad_a_n * hidden_n * r * (1 - r)
        grad_a_z = grad_output * (h - n) * z * (1 - z)
        return (np.concatenate([grad_a_r, grad_a_z, grad_a_n], axis=-1),
                np.concatenate([grad_a_r, grad_a_z, grad_a_n * r], axis=-1), grad_output * z)


def fused_lstm_step(input_part, h, c, weight_hh, bias_hh):
    both = lstm_cell_update(input_part + ops.linear(h, weight_hh.T, *bias_hh), c)
    return both[0], both[1]


def fused_gru_step(input_part, h, weight_hh, bias_hh):
    return gru_cell_update(input_part, ops.linear(h, weight_hh.T, *bias_hh), h)


class FusedLSTMStep:
    def step(self, input_part, states, weight_hh, bias_hh):
        return fused_lstm_step(input_part, *states, weight_hh, bias_hh)


class FusedGRUStep:
    def step(self, input_part, states, weight_hh, bias_hh):
        return (fused_gru_step(input_part, states[0], weight_hh, bias_hh),)


@contextmanager
def fused_cells():
    """nn.LSTM and nn.GRU (and their cells) step with the fused operations inside the block."""
    composed = nn.LSTMStep.step, nn.GRUStep.step
    nn.LSTMStep.step, nn.GRUStep.step = FusedLSTMStep.step, FusedGRUStep.step
    try:
        yield
    finally:
        nn.LSTMStep.step, nn.GRUStep.step = composed


def with_gru(model, seed=3):
    """The edugrad benchmark model of the LSTM LM with an nn.GRU of the same sizes in place of its nn.LSTM."""
    lstm = model.model.lstm
    dtype = lstm.weight_hh_l0.value.dtype
    gru = nn.GRU(lstm.input_size, lstm.hidden_size, lstm.num_layers, dtype=dtype)
    rng = np.random.default_rng(seed)
    for param in gru.parameters():
        param.value = rng.uniform(-0.1, 0.1, param.shape).astype(dtype)
    model.model.lstm = gru
    model.optimizer = optim.SGD(model.model.parameters(), lr=model.workload.lr)
    model.params = dict(model.model.named_parameters())

    def loss(b):
        outputs, _ = gru(model.model.embedding(b["tokens"]), Tensor(b["h"], requires_grad=False))
        logits = model.model.output(ops.reshape(outputs, (-1, outputs.shape[-1])))
        return ops.cross_entropy(logits, b["targets"].reshape(-1), reduction="sum") / b["tokens"].shape[1]

    model.loss = loss
    return model


def fused_cell_times(make_model, batch, rounds: int, clock: str) -> dict:
    """ms per step of the LSTM LM and of its GRU twin, composed and fused, in interleaved rounds."""
    tick = CLOCKS[clock]
    models = {"lstm": make_model(), "gru": with_gru(make_model())}
    variants = [(kind, fused) for kind in models for fused in (False, True)]
    times = {variant: [] for variant in variants}
    for round_number in range(rounds + 1):  # round 0 warms up
        for kind, fused in variants:
            with fused_cells() if fused else nullcontext():
                start = tick()
                models[kind].step(batch)
                if round_number:
                    times[kind, fused].append(tick() - start)
    result = {}
    for kind in models:
        composed, fused = (1000 * float(np.median(times[kind, f])) for f in (False, True))
        result[kind] = {"composed_ms": composed, "fused_ms": fused, "saving": (composed - fused) / composed}
    return result


# Groups of edugrad's functions, by the file and function cProfile names (first match wins).
PROFILE_GROUPS = [
    ("matrix products (linear)", lambda file, function: file.endswith("linalg.py") and function in ("forward", "backward")),
    ("summing gradients (add_gradients, getitem's backward)",
     lambda file, function: function == "add_gradients" or (file.endswith("sequences.py") and function == "backward")
     or function == "<built-in method numpy.zeros>"),
    ("softmax cross-entropy", lambda file, function: file.endswith("losses.py")),
    ("gates' elementwise operations", lambda file, function: file.endswith("elementwise.py")),
    ("clip_grad_norm_ and SGD", lambda file, function: (file.endswith("optim.py") and function == "step") or (
        file.endswith("nn.py") and function in ("clip_grad_norm_", "<listcomp>", "scale_gradient", "gradient_entries"))),
]


def edugrad_profile(model, batch, steps: int, clock: str) -> dict:
    """Shares of edugrad's step (by cProfile's own time per function, grouped), and the profiled ms per step."""
    model.step(batch)
    profiler = cProfile.Profile(CLOCKS[clock])
    profiler.enable()
    for _ in range(steps):
        model.step(batch)
    profiler.disable()
    totals = {name: 0.0 for name, _ in PROFILE_GROUPS}
    everything = 0.0
    for (file, _, function), (_, _, own, _, _) in pstats.Stats(profiler).stats.items():
        everything += own
        group = next((name for name, member in PROFILE_GROUPS if member(file, function)), None)
        if group is not None:
            totals[group] += own
    shares = {name: total / everything for name, total in totals.items()}
    shares["everything else (the engine's bookkeeping, Python)"] = 1 - sum(shares.values())
    return {"profiled_ms_per_step": 1000 * everything / steps, "shares": shares,
            **time_slice_sums(model, batch, steps, clock)}


def time_slice_sums(model, batch, steps: int, clock: str) -> dict:
    """Without the profiler: ms per step, and the part spent adding up the gradients of the time slices.

    nn.LSTM takes each step's share of the input projections, [batch, 4 * hidden], from the
    [time, batch, 4 * hidden] array with a getitem; each getitem's backward hands back its slice
    (a SliceGrad), and the engine adds the slices up: the first two into a new array
    (add_gradients), the others into that array (add_gradient_into). Both are timed.
    """
    tick = CLOCKS[clock]
    s = model.workload.sizes
    projection_shape = (s["steps"], s["batch"], 4 * s["hidden"])
    spent = [0.0]
    originals = {name: getattr(tensor_module, name) for name in ("add_gradients", "add_gradient_into")}

    def timed(original):
        def call(total, grad):
            start = tick()
            result = original(total, grad)
            if np.shape(total) == projection_shape:
                spent[0] += tick() - start
            return result
        return call

    for name, original in originals.items():
        setattr(tensor_module, name, timed(original))
    try:
        start = tick()
        for _ in range(steps):
            model.step(batch)
        step_seconds = (tick() - start) / steps
    finally:
        for name, original in originals.items():
            setattr(tensor_module, name, original)
    return {"ms_per_step": 1000 * step_seconds, "time_slice_sums_ms": 1000 * spent[0] / steps}


def floor_phases(floor, batch, steps: int, clock: str) -> dict:
    """ms per step of each phase of the numpy floor's step (the phases its methods mark)."""
    floor.step(batch)
    floor.lstm.phases, floor.lstm.clock = {}, CLOCKS[clock]
    for _ in range(steps):
        floor.step(batch)
    phases, floor.lstm.phases = floor.lstm.phases, None
    return {name: 1000 * seconds / steps for name, seconds in phases.items()}


if __name__ == "__main__":
    # python benchmarks/lstm_analysis.py [--quick] CLOCK: time_slice_sums in a fresh process, as JSON (run.py
    # calls it: in a process that has already freed large arrays, numpy's new ones often reuse that memory,
    # whereas a fresh process gets them from the system, page by page).
    import json
    import sys

    import workloads
    from edugrad_models import EdugradModel
    from suite import make

    quick = "--quick" in sys.argv
    workload = (workloads.SMALL if quick else workloads.FULL)["lstm_lm"]
    model, batch = make(EdugradModel, workload, "dense", "float32")
    model.step(batch)
    print(json.dumps(time_slice_sums(model, batch, 2 if quick else 5, sys.argv[-1])))
