"""The floor: each workload written by hand in numpy, backward pass included.

No graph, no checks, no objects per value: forward, loss, the gradients
written out by hand, and the SGD update. A library built on numpy can match
this but not beat it. An embedding table's gradient is either a dense array
(``sparse=False``) or the looked-up rows and their gradients (``sparse=True``),
which the update adds into the table with one scatter.
"""

import numpy as np

# The one piece shared with edugrad: a plain numpy function (chapter "Indexing and embeddings"),
# the fastest scatter-add measured there, so that the floor and edugrad add rows alike.
from edugrad.ops.indexing import scatter_add


def relu_backward(grad, pre_activation):
    return grad * (pre_activation > 0)


def softmax_cross_entropy(logits, labels):
    """Mean loss and its gradient with respect to the logits: one exp, the softmax reused."""
    batch = len(labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    grad = np.exp(shifted)
    totals = grad.sum(axis=1, keepdims=True)
    loss = -(shifted[np.arange(batch), labels] - np.log(totals[:, 0])).sum() / batch
    grad /= totals
    grad[np.arange(batch), labels] -= 1
    grad /= batch
    return loss, grad


def log_sigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    positive = x >= 0
    z = np.exp(np.where(positive, -x, x))
    return np.where(positive, 1 / (1 + z), z / (1 + z))


class Floor:
    def __init__(self, workload, weights: dict, sparse: bool = False):
        self.workload, self.sparse = workload, sparse
        self.params = {name: array.copy() for name, array in weights.items()}

    def embedding_gradient(self, name, rows, values, skip=None):
        """The gradient of a looked-up table: rows and values, or a dense array."""
        rows, values = rows.ravel(), values.reshape(len(rows.ravel()), -1)
        if skip is not None:  # the padding row gets no gradient
            keep = rows != skip
            rows, values = rows[keep], values[keep]
        if self.sparse:
            return rows, values
        dense = np.zeros_like(self.params[name])
        scatter_add(dense, rows, values)
        return dense

    def step(self, batch) -> float:
        loss, grads = getattr(self, self.workload.name)(batch)
        lr = self.workload.lr
        for name, grad in grads.items():
            if isinstance(grad, tuple):
                rows, values = grad
                scatter_add(self.params[name], rows, -lr * values)
            else:
                self.params[name] -= lr * grad
        return loss

    def gradients(self, batch) -> tuple:
        return getattr(self, self.workload.name)(batch)

    def mlp(self, b):
        p, x = self.params, b["inputs"]
        z1 = x @ p["0.weight"] + p["0.bias"]
        a1 = np.maximum(z1, 0)
        z2 = a1 @ p["2.weight"] + p["2.bias"]
        a2 = np.maximum(z2, 0)
        out = a2 @ p["4.weight"] + p["4.bias"]
        difference = out - b["targets"]
        loss = np.mean(difference**2)
        d_out = 2 * difference / difference.size
        d_z2 = relu_backward(d_out @ p["4.weight"].T, z2)
        d_z1 = relu_backward(d_z2 @ p["2.weight"].T, z1)
        return loss, {
            "4.weight": a2.T @ d_out, "4.bias": d_out.sum(axis=0),
            "2.weight": a1.T @ d_z2, "2.bias": d_z2.sum(axis=0),
            "0.weight": x.T @ d_z1, "0.bias": d_z1.sum(axis=0),
        }

    def dan(self, b):
        p, indices = self.params, b["indices"]
        table = p["embedding.weight"]
        lengths = b["lengths"][:, None].astype(table.dtype)
        average = table[indices].sum(axis=1) / lengths
        z1 = average @ p["hidden.0.weight"] + p["hidden.0.bias"]
        a1 = np.maximum(z1, 0)
        z2 = a1 @ p["hidden.2.weight"] + p["hidden.2.bias"]
        a2 = np.maximum(z2, 0)
        logits = a2 @ p["output.weight"] + p["output.bias"]
        loss, d_logits = softmax_cross_entropy(logits, b["labels"])
        d_z2 = relu_backward(d_logits @ p["output.weight"].T, z2)
        d_z1 = relu_backward(d_z2 @ p["hidden.2.weight"].T, z1)
        d_average = d_z1 @ p["hidden.0.weight"].T
        d_words = np.broadcast_to((d_average / lengths)[:, None, :], indices.shape + (table.shape[1],))
        return loss, {
            "output.weight": a2.T @ d_logits, "output.bias": d_logits.sum(axis=0),
            "hidden.2.weight": a1.T @ d_z2, "hidden.2.bias": d_z2.sum(axis=0),
            "hidden.0.weight": average.T @ d_z1, "hidden.0.bias": d_z1.sum(axis=0),
            "embedding.weight": self.embedding_gradient("embedding.weight", indices, d_words, skip=0),
        }

    def nplm(self, b):
        p, contexts = self.params, b["contexts"]
        x = p["embedding.weight"][contexts].reshape(len(contexts), -1)
        hidden = np.tanh(x @ p["hidden.weight"] + p["hidden.bias"])
        logits = hidden @ p["output.weight"] + p["output.bias"]
        loss, d_logits = softmax_cross_entropy(logits, b["next_words"])
        d_pre = (d_logits @ p["output.weight"].T) * (1 - hidden**2)
        d_x = d_pre @ p["hidden.weight"].T
        return loss, {
            "output.weight": hidden.T @ d_logits, "output.bias": d_logits.sum(axis=0),
            "hidden.weight": x.T @ d_pre, "hidden.bias": d_pre.sum(axis=0),
            "embedding.weight": self.embedding_gradient("embedding.weight", contexts, d_x),
        }

    def sgns(self, b):
        p, centres, candidates = self.params, b["centres"], b["candidates"]
        words = p["words.weight"][centres]  # [batch, dimension]
        contexts = p["contexts.weight"][candidates]  # [batch, 1 + K, dimension]
        scores = np.einsum("bd,bkd->bk", words, contexts)
        signs = np.where(np.arange(candidates.shape[1]) == 0, 1.0, -1.0).astype(scores.dtype)
        loss = -log_sigmoid(signs * scores).sum()
        d_scores = -signs * sigmoid(-signs * scores)  # d/ds of -log sigmoid(sign * s)
        d_words = np.einsum("bk,bkd->bd", d_scores, contexts)
        d_contexts = d_scores[:, :, None] * words[:, None, :]
        return loss, {
            "words.weight": self.embedding_gradient("words.weight", centres, d_words),
            "contexts.weight": self.embedding_gradient("contexts.weight", candidates, d_contexts),
        }
