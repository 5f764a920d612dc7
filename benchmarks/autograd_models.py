"""The workloads in HIPS autograd (``pip install autograd``), written as its users write them.

The loss is a function of a dict of numpy arrays (the shared weights, by
edugrad's parameter names and in edugrad's layout); ``value_and_grad`` traces
it on every call and returns the loss and a dict of gradients; the SGD update
subtracts them from the arrays in place. The LSTM is written out: one product
for every step's input projection, then a Python loop over the time steps.

autograd's gradients are dense numpy arrays (the gradient of ``table[rows]`` is
a zero table with the rows added in), so it has no row-sparse variant: the
benchmark's "sparse" rows leave its cell empty.
"""

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad
from autograd.scipy.special import logsumexp


def relu(x):
    return anp.maximum(x, 0)


def sigmoid(x):
    return 0.5 * (anp.tanh(0.5 * x) + 1)


def cross_entropy(logits, labels, reduction="mean"):
    log_probabilities = logits - logsumexp(logits, axis=1, keepdims=True)
    picked = log_probabilities[np.arange(len(labels)), labels]
    return -(anp.mean(picked) if reduction == "mean" else anp.sum(picked))


def mlp(p, b):
    a1 = relu(b["inputs"] @ p["0.weight"] + p["0.bias"])
    a2 = relu(a1 @ p["2.weight"] + p["2.bias"])
    return anp.mean((a2 @ p["4.weight"] + p["4.bias"] - b["targets"]) ** 2)


def dan(p, b):
    indices = b["indices"]
    # The padding row is masked out, so that it gets no gradient (as padding_idx does in PyTorch).
    words = p["embedding.weight"][indices] * (indices != 0)[:, :, None]
    average = anp.sum(words, axis=1) / b["lengths"][:, None].astype(words.dtype)
    a1 = relu(average @ p["hidden.0.weight"] + p["hidden.0.bias"])
    a2 = relu(a1 @ p["hidden.2.weight"] + p["hidden.2.bias"])
    return cross_entropy(a2 @ p["output.weight"] + p["output.bias"], b["labels"])


def nplm(p, b):
    contexts = b["contexts"]
    x = anp.reshape(p["embedding.weight"][contexts], (len(contexts), -1))
    hidden = anp.tanh(x @ p["hidden.weight"] + p["hidden.bias"])
    return cross_entropy(hidden @ p["output.weight"] + p["output.bias"], b["next_words"])


def sgns(p, b):
    candidates = b["candidates"]
    words = p["words.weight"][b["centres"]]  # [batch, dimension]
    contexts = p["contexts.weight"][candidates]  # [batch, 1 + negatives, dimension]
    scores = anp.sum(words[:, None, :] * contexts, axis=-1)
    signs = np.where(np.arange(candidates.shape[1]) == 0, 1.0, -1.0).astype(words.dtype)
    return anp.sum(anp.logaddexp(0, -signs * scores))  # -log sigmoid(sign * score)


def lstm_lm(p, b, layers):
    tokens = b["tokens"]
    steps, batch = tokens.shape
    inputs = p["embedding.weight"][tokens]  # [time, batch, embedding]
    for layer in range(layers):
        w_ih, w_hh = p[f"lstm.weight_ih_l{layer}"], p[f"lstm.weight_hh_l{layer}"]
        hidden = w_hh.shape[1]
        projected = anp.reshape(inputs, (steps * batch, -1)) @ w_ih.T + (p[f"lstm.bias_ih_l{layer}"] + p[f"lstm.bias_hh_l{layer}"])
        projected = anp.reshape(projected, (steps, batch, 4 * hidden))
        h, c, outputs = b["h"][layer], b["c"][layer], []
        for t in range(steps):
            gates = projected[t] + h @ w_hh.T
            i, f = sigmoid(gates[:, :hidden]), sigmoid(gates[:, hidden : 2 * hidden])
            g, o = anp.tanh(gates[:, 2 * hidden : 3 * hidden]), sigmoid(gates[:, 3 * hidden :])
            c = f * c + i * g
            h = o * anp.tanh(c)
            outputs.append(h)
        inputs = anp.stack(outputs)
    logits = anp.reshape(inputs, (steps * batch, -1)) @ p["output.weight"] + p["output.bias"]
    return cross_entropy(logits, b["targets"].reshape(-1), reduction="sum") / batch


def clip_coefficient(grads: dict, max_norm: float) -> float:
    """torch.nn.utils.clip_grad_norm_'s factor: max_norm / (global norm + 1e-6), at most 1."""
    norm = np.sqrt(sum(float(np.vdot(grad, grad)) for grad in grads.values()))
    return float(min(max_norm / (norm + 1e-6), 1.0))  # a Python float: float32 gradients stay float32


class AutogradModel:
    def __init__(self, workload, weights: dict, sparse: bool = False):
        if sparse:
            raise NotImplementedError("autograd has only dense gradients")
        self.workload = workload
        self.params = {name: array.copy() for name, array in weights.items()}
        loss = globals()[workload.name]
        if workload.name == "lstm_lm":
            layers = workload.sizes["layers"]
            self.value_and_grad = value_and_grad(lambda p, b: lstm_lm(p, b, layers))
        else:
            self.value_and_grad = value_and_grad(loss)

    def gradients(self, batch) -> tuple:
        """The loss and the gradients the update uses (after clipping, if the workload clips)."""
        loss, grads = self.value_and_grad(self.params, batch)
        if self.workload.max_norm is not None:
            coefficient = clip_coefficient(grads, self.workload.max_norm)
            grads = {name: grad * coefficient for name, grad in grads.items()}
        return float(loss), grads

    def step(self, batch) -> float:
        loss, grads = self.value_and_grad(self.params, batch)
        rate = self.workload.lr
        if self.workload.max_norm is not None:
            rate *= clip_coefficient(grads, self.workload.max_norm)
        for name, grad in grads.items():
            self.params[name] -= rate * grad
        return float(loss)
