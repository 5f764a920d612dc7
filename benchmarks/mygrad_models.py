"""The workloads in MyGrad (``pip install mygrad``), written as its users write them.

The weights are ``mygrad.Tensor``s (edugrad's names and layout); the loss is
built from MyGrad's NumPy-like functions and ``mygrad.nnet``'s activations and
losses, ``loss.backward()`` fills each tensor's ``.grad`` (a numpy array) and
clears the graph, and the SGD update subtracts the gradient from the tensor's
``.data`` in place (as MyGrad's companion library MyNN's SGD does). MyGrad's
memory guarding is left at its default (on). MyGrad has no LSTM layer: the cell
is written out, one product for every step's input projection, then a loop.

MyGrad's gradients are dense numpy arrays, so it has no row-sparse variant: the
benchmark's "sparse" rows leave its cell empty.
"""

import mygrad as mg
import numpy as np
from mygrad.nnet.activations import relu, sigmoid
from mygrad.nnet.losses import softmax_crossentropy


def mlp(p, b):
    a1 = relu(b["inputs"] @ p["0.weight"] + p["0.bias"])
    a2 = relu(a1 @ p["2.weight"] + p["2.bias"])
    return mg.mean((a2 @ p["4.weight"] + p["4.bias"] - b["targets"]) ** 2)


def dan(p, b):
    indices = b["indices"]
    # The padding row is masked out, so that it gets no gradient (as padding_idx does in PyTorch).
    words = p["embedding.weight"][indices] * (indices != 0)[:, :, None]
    average = words.sum(axis=1) / b["lengths"][:, None].astype(words.dtype)
    a1 = relu(average @ p["hidden.0.weight"] + p["hidden.0.bias"])
    a2 = relu(a1 @ p["hidden.2.weight"] + p["hidden.2.bias"])
    return softmax_crossentropy(a2 @ p["output.weight"] + p["output.bias"], b["labels"])


def nplm(p, b):
    contexts = b["contexts"]
    x = p["embedding.weight"][contexts].reshape(len(contexts), -1)
    hidden = mg.tanh(x @ p["hidden.weight"] + p["hidden.bias"])
    return softmax_crossentropy(hidden @ p["output.weight"] + p["output.bias"], b["next_words"])


def sgns(p, b):
    candidates = b["candidates"]
    words = p["words.weight"][b["centres"]]  # [batch, dimension]
    contexts = p["contexts.weight"][candidates]  # [batch, 1 + negatives, dimension]
    scores = (words[:, None, :] * contexts).sum(axis=-1)
    signs = np.where(np.arange(candidates.shape[1]) == 0, 1.0, -1.0).astype(words.dtype)
    return mg.logaddexp(0, -signs * scores).sum()  # -log sigmoid(sign * score)


def lstm_lm(p, b, layers):
    tokens = b["tokens"]
    steps, batch = tokens.shape
    inputs = p["embedding.weight"][tokens]  # [time, batch, embedding]
    for layer in range(layers):
        w_ih, w_hh = p[f"lstm.weight_ih_l{layer}"], p[f"lstm.weight_hh_l{layer}"]
        hidden = w_hh.shape[1]
        projected = inputs.reshape(steps * batch, -1) @ w_ih.T + (p[f"lstm.bias_ih_l{layer}"] + p[f"lstm.bias_hh_l{layer}"])
        projected = projected.reshape(steps, batch, 4 * hidden)
        h, c, outputs = b["h"][layer], b["c"][layer], []
        for t in range(steps):
            gates = projected[t] + h @ w_hh.T
            i, f = sigmoid(gates[:, :hidden]), sigmoid(gates[:, hidden : 2 * hidden])
            g, o = mg.tanh(gates[:, 2 * hidden : 3 * hidden]), sigmoid(gates[:, 3 * hidden :])
            c = f * c + i * g
            h = o * mg.tanh(c)
            outputs.append(h)
        inputs = mg.stack(outputs)
    logits = inputs.reshape(steps * batch, -1) @ p["output.weight"] + p["output.bias"]
    # softmax_crossentropy averages over its steps * batch rows: the sum over time, averaged over the streams
    return softmax_crossentropy(logits, b["targets"].reshape(-1)) * steps


def clip_coefficient(grads, max_norm: float) -> float:
    """torch.nn.utils.clip_grad_norm_'s factor: max_norm / (global norm + 1e-6), at most 1."""
    norm = np.sqrt(sum(float(np.vdot(grad, grad)) for grad in grads))
    return float(min(max_norm / (norm + 1e-6), 1.0))  # a Python float: float32 gradients stay float32


class MyGradModel:
    def __init__(self, workload, weights: dict, sparse: bool = False):
        if sparse:
            raise NotImplementedError("MyGrad has only dense gradients")
        self.workload = workload
        self.params = {name: mg.Tensor(array.copy()) for name, array in weights.items()}
        self.forward = globals()[workload.name]
        if workload.name == "lstm_lm":
            layers = workload.sizes["layers"]
            self.forward = lambda p, b: lstm_lm(p, b, layers)

    def backward(self, batch) -> float:
        loss = self.forward(self.params, batch)
        loss.backward()
        return float(loss.item())

    def gradients(self, batch) -> tuple:
        """The loss and the gradients the update uses (after clipping, if the workload clips)."""
        loss = self.backward(batch)
        grads = {name: np.array(param.grad) for name, param in self.params.items()}
        if self.workload.max_norm is not None:
            coefficient = clip_coefficient(grads.values(), self.workload.max_norm)
            grads = {name: grad * coefficient for name, grad in grads.items()}
        return loss, grads

    def step(self, batch) -> float:
        loss = self.backward(batch)
        rate = self.workload.lr
        if self.workload.max_norm is not None:
            rate *= clip_coefficient((param.grad for param in self.params.values()), self.workload.max_norm)
        for param in self.params.values():
            param.data -= rate * param.grad
        return loss
