"""The five workloads of the benchmark: their sizes, one set of starting weights, one batch.

Every implementation (edugrad, the hand-written numpy floor, PyTorch) starts
from the same weights, keyed by edugrad's parameter names, and trains on the
same batch, so their gradients can be compared before they are timed.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: dict
    has_embedding: bool  # whether it looks rows up in a table (its gradient is the exercise ex-scatter-add)
    lr: float
    gradients: tuple = ("dense", "sparse")  # the kinds of embedding gradient measured
    dtypes: tuple = ("float32", "float64")
    max_norm: float = None  # clip_grad_norm_ before the update, if given


FULL = {
    "mlp": Workload("mlp", {"batch": 32, "inputs": 10, "hidden": 32}, False, 0.01, gradients=("dense",)),
    "dan": Workload("dan", {"batch": 64, "vocabulary": 20_000, "embedding": 300, "hidden": 300, "classes": 5,
                            "min_length": 10, "max_length": 30}, True, 0.01),
    "nplm": Workload("nplm", {"batch": 256, "vocabulary": 10_000, "context": 4, "embedding": 60, "hidden": 50},
                     True, 0.05),
    "sgns": Workload("sgns", {"batch": 512, "vocabulary": 10_000, "dimension": 100, "negatives": 5}, True, 0.025),
    # Zaremba et al.'s small PTB model (chapter "An LSTM language model"): 35 steps of 20 streams, the loss
    # summed over time and averaged over the streams, gradients clipped to norm 5, SGD with rate 1.
    # The embedding gradient is dense, as in that chapter; float32 only, the precision such a model trains in.
    "lstm_lm": Workload("lstm_lm", {"batch": 20, "steps": 35, "vocabulary": 10_000, "embedding": 200, "hidden": 200,
                                    "layers": 2}, True, 1.0, gradients=("dense",), dtypes=("float32",), max_norm=5.0),
}

# The same models, small enough for a test to check their gradients in a second.
SMALL = {
    "mlp": FULL["mlp"],
    "dan": Workload("dan", {"batch": 8, "vocabulary": 50, "embedding": 12, "hidden": 10, "classes": 5,
                            "min_length": 2, "max_length": 7}, True, 0.01),
    "nplm": Workload("nplm", {"batch": 16, "vocabulary": 40, "context": 4, "embedding": 6, "hidden": 5}, True, 0.05),
    "sgns": Workload("sgns", {"batch": 16, "vocabulary": 40, "dimension": 8, "negatives": 5}, True, 0.025),
    # A norm of 0.1 so that the clipping is active and checked too.
    "lstm_lm": Workload("lstm_lm", {"batch": 3, "steps": 7, "vocabulary": 40, "embedding": 6, "hidden": 5, "layers": 2},
                        True, 1.0, gradients=("dense",), dtypes=("float32",), max_norm=0.1),
}


def lstm_parameter_names(layers: int) -> list:
    """nn.LSTM's (and torch.nn.LSTM's) parameter names, layer by layer."""
    return [f"{kind}_l{layer}" for layer in range(layers)
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def uniform(rng, bound, shape):
    return rng.uniform(-bound, bound, shape)


def weights(workload: Workload, dtype, seed: int = 0) -> dict:
    """Starting weights, by edugrad parameter name; Linear weights are [inputs, outputs]."""
    rng, s = np.random.default_rng(seed), workload.sizes
    if workload.name == "mlp":
        arrays, sizes = {}, [s["inputs"], s["hidden"], s["hidden"], 1]
        for layer, (fan_in, fan_out) in zip((0, 2, 4), zip(sizes, sizes[1:])):
            arrays[f"{layer}.weight"] = uniform(rng, fan_in**-0.5, (fan_in, fan_out))
            arrays[f"{layer}.bias"] = uniform(rng, fan_in**-0.5, fan_out)
    elif workload.name == "dan":
        embedding = 0.1 * rng.standard_normal((s["vocabulary"], s["embedding"]))
        embedding[0] = 0  # the padding row
        arrays = {"embedding.weight": embedding}
        for name, (fan_in, fan_out) in {"hidden.0": (s["embedding"], s["hidden"]), "hidden.2": (s["hidden"], s["hidden"]),
                                        "output": (s["hidden"], s["classes"])}.items():
            arrays[f"{name}.weight"] = uniform(rng, fan_in**-0.5, (fan_in, fan_out))
            arrays[f"{name}.bias"] = uniform(rng, fan_in**-0.5, fan_out)
    elif workload.name == "nplm":
        concatenated = s["context"] * s["embedding"]
        arrays = {
            "embedding.weight": rng.standard_normal((s["vocabulary"], s["embedding"])),
            "hidden.weight": uniform(rng, concatenated**-0.5, (concatenated, s["hidden"])),
            "hidden.bias": uniform(rng, concatenated**-0.5, s["hidden"]),
            "output.weight": uniform(rng, s["hidden"] ** -0.5, (s["hidden"], s["vocabulary"])),
            "output.bias": uniform(rng, s["hidden"] ** -0.5, s["vocabulary"]),
        }
    elif workload.name == "sgns":
        # Both tables random (word2vec starts the contexts at zero, which makes
        # the first step's gradient of the word vectors zero: nothing to compare).
        arrays = {name: uniform(rng, 0.5 / s["dimension"], (s["vocabulary"], s["dimension"]))
                  for name in ("words.weight", "contexts.weight")}
    elif workload.name == "lstm_lm":
        # edugrad.models.lstm_lm's names; every weight uniform in [-0.1, 0.1], as that model starts.
        four, hidden = 4 * s["hidden"], s["hidden"]
        arrays = {"embedding.weight": uniform(rng, 0.1, (s["vocabulary"], s["embedding"]))}
        for name in lstm_parameter_names(s["layers"]):
            layer_input = s["embedding"] if name.endswith("_l0") else hidden
            shape = {"weight_ih": (four, layer_input), "weight_hh": (four, hidden)}.get(name.rsplit("_", 1)[0], (four,))
            arrays[f"lstm.{name}"] = uniform(rng, 0.1, shape)
        arrays["output.weight"] = uniform(rng, 0.1, (hidden, s["vocabulary"]))
        arrays["output.bias"] = uniform(rng, 0.1, s["vocabulary"])
    else:
        raise ValueError(f"unknown workload {workload.name!r}")
    return {name: array.astype(dtype) for name, array in arrays.items()}


def batch(workload: Workload, dtype, seed: int = 1) -> dict:
    """One batch of inputs and targets."""
    rng, s = np.random.default_rng(seed), workload.sizes
    if workload.name == "mlp":
        return {"inputs": rng.standard_normal((s["batch"], s["inputs"])).astype(dtype),
                "targets": rng.standard_normal((s["batch"], 1)).astype(dtype)}
    if workload.name == "dan":
        lengths = rng.integers(s["min_length"], s["max_length"] + 1, s["batch"])
        indices = rng.integers(1, s["vocabulary"], (s["batch"], lengths.max()))
        indices[np.arange(lengths.max()) >= lengths[:, None]] = 0  # padding after each sentence
        return {"indices": indices, "lengths": lengths, "labels": rng.integers(0, s["classes"], s["batch"])}
    if workload.name == "nplm":
        return {"contexts": rng.integers(0, s["vocabulary"], (s["batch"], s["context"])),
                "next_words": rng.integers(0, s["vocabulary"], s["batch"])}
    if workload.name == "sgns":
        return {"centres": rng.integers(0, s["vocabulary"], s["batch"]),
                "candidates": rng.integers(0, s["vocabulary"], (s["batch"], 1 + s["negatives"]))}
    if workload.name == "lstm_lm":
        # A chunk of the streams and the state the previous chunk left (truncated BPTT starts from it).
        state_shape = (s["layers"], s["batch"], s["hidden"])
        return {"tokens": rng.integers(0, s["vocabulary"], (s["steps"], s["batch"])),  # [time, batch]
                "targets": rng.integers(0, s["vocabulary"], (s["steps"], s["batch"])),
                "h": np.tanh(rng.standard_normal(state_shape)).astype(dtype),
                "c": rng.standard_normal(state_shape).astype(dtype)}
    raise ValueError(f"unknown workload {workload.name!r}")
