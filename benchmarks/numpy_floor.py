"""The floor: each workload written by hand in numpy, backward pass included, with care.

No graph, no checks, no objects per value: forward, loss, the gradients
written out by hand, and the SGD update (after clipping the gradients'
global norm, for the workload that clips). A library built on numpy can match
this but not beat it, so it is written to be hard to beat:

- a dense embedding gradient lives in a kept table, and each step zeroes only
  the rows the previous step wrote, instead of allocating (and page-faulting
  in) a fresh table;
- only real tokens are gathered and scattered: padding is never looked up;
- the DAN's average is a segment sum over each sentence's rows (np.add.reduceat);
- softmax cross-entropy turns the logits into their gradient in place;
- the NPLM's output weight and bias are one array [hidden + 1, vocabulary] (the
  parameters are views of it) and the hidden states carry a column of ones:
  one product gives logits with the bias added, one product both gradients;
- row-wise dot products are batched matrix products, never a [B, K, D] product
  summed;
- the update subtracts lr * grad in place in cache-sized blocks
  (edugrad.optim.subtract_scaled, a plain numpy function).

An embedding table's gradient is either a dense array (``sparse=False``) or
the looked-up rows and their gradients (``sparse=True``), which the update adds
into the table with one scatter.
"""

import time

import numpy as np

# The two pieces shared with edugrad: plain numpy functions (chapters "Indexing and embeddings" and
# "Optimizers"), the fastest forms measured there, so that the floor and edugrad add rows and update alike.
from edugrad.ops.indexing import scatter_add
from edugrad.optim import subtract_scaled


def relu_backward(grad, pre_activation):
    grad *= pre_activation > 0  # in place: the product's buffer is ours
    return grad


def softmax_cross_entropy_(logits, labels):
    """Mean loss; ``logits`` is overwritten with the loss's gradient with respect to them."""
    batch, rows = len(labels), np.arange(len(labels))
    logits -= logits.max(axis=1, keepdims=True)
    picked = logits[rows, labels]  # a copy: the shifted scores of the labels
    np.exp(logits, out=logits)
    totals = logits.sum(axis=1)
    loss = float((np.log(totals) - picked).sum() / batch)
    logits *= (1 / (totals * batch))[:, None].astype(logits.dtype)  # softmax / batch
    logits[rows, labels] -= 1 / batch
    return loss


def sigmoid(x):
    positive = x >= 0
    z = np.exp(np.where(positive, -x, x))
    return np.where(positive, 1 / (1 + z), z / (1 + z))


class Floor:
    def __init__(self, workload, weights: dict, sparse: bool = False):
        self.workload, self.sparse = workload, sparse
        self.params = {name: array.copy() for name, array in weights.items()}
        self.dense_grads, self.written_rows = {}, {}  # kept dense embedding gradients, and the rows last written
        if workload.name == "nplm":  # [output.weight; output.bias] as one array, the parameters views of it
            hidden = self.params["output.weight"].shape[0]
            self.output = np.concatenate([self.params["output.weight"], self.params["output.bias"][None]])
            self.params["output.weight"], self.params["output.bias"] = self.output[:hidden], self.output[hidden]
        if workload.name == "lstm_lm":
            self.lstm = LSTMLanguageModelFloor(workload, self.params)

    def embedding_gradient(self, name, rows, values):
        """The gradient of a looked-up table: rows and values, or a dense kept array."""
        if self.sparse:
            return rows, values
        if name not in self.dense_grads:
            self.dense_grads[name] = np.zeros_like(self.params[name])
        dense = self.dense_grads[name]
        dense[self.written_rows.get(name, [])] = 0  # the rest is zero already
        scatter_add(dense, rows, values)
        self.written_rows[name] = rows
        return dense

    def step(self, batch) -> float:
        if self.workload.name == "lstm_lm":  # gradients in kept buffers: scaled in place, then subtracted
            loss = self.lstm.forward(batch)
            self.lstm.backward(batch)
            scale = self.workload.lr * self.lstm.clip_coefficient(self.workload.max_norm)
            for name, grad in self.lstm.grads.items():
                grad *= scale
                self.params[name] -= grad
            self.lstm.mark("clip and update")
            return loss
        loss, grads = getattr(self, self.workload.name)(batch)
        lr = self.workload.lr
        for name, grad in grads.items():
            if isinstance(grad, tuple):
                rows, values = grad
                values *= -lr  # the values are this step's own array
                scatter_add(self.params[name], rows, values)
            else:
                subtract_scaled(self.params[name], lr, grad)
        return loss

    def gradients(self, batch) -> tuple:
        loss, grads = getattr(self, self.workload.name)(batch)
        return loss, {name: (grad[0], grad[1].copy()) if isinstance(grad, tuple) else grad.copy()
                      for name, grad in grads.items()}

    def mlp(self, b):
        p, x = self.params, b["inputs"]
        z1 = x @ p["0.weight"]
        z1 += p["0.bias"]
        a1 = np.maximum(z1, 0)
        z2 = a1 @ p["2.weight"]
        z2 += p["2.bias"]
        a2 = np.maximum(z2, 0)
        difference = a2 @ p["4.weight"]
        difference += p["4.bias"]
        difference -= b["targets"]
        loss = float(np.dot(difference.ravel(), difference.ravel())) / difference.size
        difference *= 2 / difference.size  # now the gradient of the loss with respect to the output
        d_z2 = relu_backward(difference @ p["4.weight"].T, z2)
        d_z1 = relu_backward(d_z2 @ p["2.weight"].T, z1)
        return loss, {
            "4.weight": a2.T @ difference, "4.bias": difference.sum(axis=0),
            "2.weight": a1.T @ d_z2, "2.bias": d_z2.sum(axis=0),
            "0.weight": x.T @ d_z1, "0.bias": d_z1.sum(axis=0),
        }

    def dan(self, b):
        p, indices, lengths = self.params, b["indices"], b["lengths"]
        table = p["embedding.weight"]
        words = indices[indices != 0]  # the real tokens, sentence after sentence (0 is padding)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        inverse_lengths = (1 / lengths)[:, None].astype(table.dtype)
        average = np.add.reduceat(table[words], starts, axis=0)
        average *= inverse_lengths
        z1 = average @ p["hidden.0.weight"]
        z1 += p["hidden.0.bias"]
        a1 = np.maximum(z1, 0)
        z2 = a1 @ p["hidden.2.weight"]
        z2 += p["hidden.2.bias"]
        a2 = np.maximum(z2, 0)
        logits = a2 @ p["output.weight"]
        logits += p["output.bias"]
        loss = softmax_cross_entropy_(logits, b["labels"])
        d_logits = logits  # overwritten with the loss's gradient
        d_z2 = relu_backward(d_logits @ p["output.weight"].T, z2)
        d_z1 = relu_backward(d_z2 @ p["hidden.2.weight"].T, z1)
        d_average = d_z1 @ p["hidden.0.weight"].T
        d_average *= inverse_lengths
        return loss, {
            "output.weight": a2.T @ d_logits, "output.bias": d_logits.sum(axis=0),
            "hidden.2.weight": a1.T @ d_z2, "hidden.2.bias": d_z2.sum(axis=0),
            "hidden.0.weight": average.T @ d_z1, "hidden.0.bias": d_z1.sum(axis=0),
            "embedding.weight": self.embedding_gradient("embedding.weight", words, np.repeat(d_average, lengths, axis=0)),
        }

    def nplm(self, b):
        p, contexts = self.params, b["contexts"]
        x = p["embedding.weight"][contexts].reshape(len(contexts), -1)
        hidden_size = len(p["hidden.bias"])
        hidden = np.empty((len(contexts), hidden_size + 1), dtype=x.dtype)  # tanh(...) and a column of ones
        hidden[:, hidden_size] = 1
        np.matmul(x, p["hidden.weight"], out=hidden[:, :hidden_size])
        hidden[:, :hidden_size] += p["hidden.bias"]
        np.tanh(hidden[:, :hidden_size], out=hidden[:, :hidden_size])
        logits = hidden @ self.output  # bias included
        loss = softmax_cross_entropy_(logits, b["next_words"])
        d_logits = logits  # overwritten with the loss's gradient
        d_output = hidden.T @ d_logits  # [d weight; d bias]
        d_pre = d_logits @ p["output.weight"].T
        d_pre *= 1 - hidden[:, :hidden_size] ** 2
        d_x = d_pre @ p["hidden.weight"].T
        return loss, {
            "output.weight": d_output[:hidden_size], "output.bias": d_output[hidden_size],
            "hidden.weight": x.T @ d_pre, "hidden.bias": d_pre.sum(axis=0),
            "embedding.weight": self.embedding_gradient("embedding.weight", contexts.ravel(),
                                                        d_x.reshape(contexts.size, -1)),
        }

    def lstm_lm(self, b):
        """The loss and the clipped gradients (copies: the buffers are reused by the next step)."""
        loss = self.lstm.forward(b)
        self.lstm.backward(b)
        scale = self.lstm.clip_coefficient(self.workload.max_norm)
        return loss, {name: grad * scale for name, grad in self.lstm.grads.items()}

    def sgns(self, b):
        p, centres, candidates = self.params, b["centres"], b["candidates"]
        words = p["words.weight"][centres]  # [batch, dimension]
        contexts = p["contexts.weight"][candidates]  # [batch, 1 + K, dimension]
        scores = np.matmul(contexts, words[:, :, None])[:, :, 0]  # row-wise dot products, [batch, 1 + K]
        scores[:, 1:] *= -1  # the true context's score, then the negated negatives': z
        loss = float(np.logaddexp(0, -scores).sum())  # sum of -log sigmoid(z)
        d_scores = sigmoid(-scores)  # -d/dz of -log sigmoid(z) ...
        d_scores[:, 0] *= -1  # ... times the sign: d/ds
        d_words = np.matmul(d_scores[:, None, :], contexts)[:, 0]
        d_contexts = d_scores[:, :, None] * words[:, None, :]
        return loss, {
            "words.weight": self.embedding_gradient("words.weight", centres, d_words),
            "contexts.weight": self.embedding_gradient("contexts.weight", candidates.ravel(),
                                                       d_contexts.reshape(candidates.size, -1)),
        }


class LSTMLanguageModelFloor:
    """The LSTM language model's step by hand: every array it needs allocated once, then reused.

    Forward: one product for all time steps' input projections of a layer, one h W_hh^T per
    step, the four gates activated in place in their buffer (sigmoid(a) = (1 + tanh(a / 2)) / 2,
    so one tanh over all four blocks), the output layer's logits turned into the gradient of
    the softmax cross-entropy in place. The output layer's weight and bias are one array
    [hidden + 1, vocabulary] (the parameters are views of it), and the top layer's states carry
    a column of ones: one product gives logits with the bias added, and one product gives the
    weight's and the bias's gradients, with no pass over the logits for either. Backward: the
    gate derivation of chapter "LSTM and GRU" (eq-lstm-vjp-output to eq-lstm-vjp-gates) step by
    step into one buffer of gate gradients, then one product each for W_ih's, W_hh's and the
    input's gradient. The embedding's gradient is dense, as in edugrad's and PyTorch's step: a
    kept table, zeroed and scattered into.
    """

    def __init__(self, workload, params: dict):
        s, self.params = workload.sizes, params
        self.layers = s["layers"]
        steps, batch, hidden, vocabulary = s["steps"], s["batch"], s["hidden"], s["vocabulary"]
        dtype = params["output.bias"].dtype
        empty = lambda *shape: np.empty(shape, dtype=dtype)  # noqa: E731
        self.words = empty(steps, batch, s["embedding"])
        self.gates = [empty(steps, batch, 4 * hidden) for _ in range(self.layers)]  # activated: i, f, g, o
        self.h = [empty(steps + 1, batch, hidden) for _ in range(self.layers - 1)]  # h_{-1} (given), h_0, ...
        self.top_h = empty(steps + 1, batch, hidden + 1)  # the last layer's, and a column of ones
        self.top_h[..., hidden] = 1
        self.h.append(self.top_h[..., :hidden])
        self.output = empty(hidden + 1, vocabulary)  # [weight; bias]
        self.output[:hidden], self.output[hidden] = params["output.weight"], params["output.bias"]
        params["output.weight"], params["output.bias"] = self.output[:hidden], self.output[hidden]
        self.c = [empty(steps + 1, batch, hidden) for _ in range(self.layers)]
        self.tanh_c = [empty(steps, batch, hidden) for _ in range(self.layers)]
        self.logits = empty(steps * batch, vocabulary)  # then the gradient of the loss with respect to them
        self.recurrent = empty(batch, 4 * hidden)  # h W_hh^T of one step
        self.scratch = empty(batch, hidden)
        self.grad_c = empty(batch, hidden)
        self.grad_gates = empty(steps, batch, 4 * hidden)
        self.grad_outputs = empty(steps, batch, hidden)  # of the layer being differentiated
        self.grad_words = empty(steps, batch, s["embedding"])
        self.output_grad = empty(hidden + 1, vocabulary)  # [the weight's; the bias's]
        self.grads = {name: np.empty_like(array) for name, array in params.items() if not name.startswith("output.")}
        self.grads["output.weight"], self.grads["output.bias"] = self.output_grad[:hidden], self.output_grad[hidden]
        # sigmoid(a) = 0.5 + 0.5 tanh(0.5 a) on the blocks i, f, o; tanh(a) on g
        self.half = np.full(4 * hidden, 0.5, dtype=dtype)
        self.half[2 * hidden : 3 * hidden] = 1
        self.offset = np.full(4 * hidden, 0.5, dtype=dtype)
        self.offset[2 * hidden : 3 * hidden] = 0
        self.phases, self.clock, self.last = None, time.perf_counter, 0.0  # see mark

    def mark(self, phase: str) -> None:
        """Charge the time since the last mark to ``phase``, when ``phases`` is a dict (benchmarks/lstm_analysis.py)."""
        if self.phases is not None:
            now = self.clock()
            self.phases[phase] = self.phases.get(phase, 0.0) + now - self.last
            self.last = now

    def forward(self, b) -> float:
        p, steps, batch = self.params, *b["tokens"].shape
        hidden = self.h[0].shape[-1]
        self.last = self.clock()
        np.take(p["embedding.weight"], b["tokens"], axis=0, out=self.words)
        self.mark("embedding: lookup and gradient")
        inputs = self.words
        for layer in range(self.layers):
            gates, h, c, tanh_c = self.gates[layer], self.h[layer], self.c[layer], self.tanh_c[layer]
            weight_hh = p[f"lstm.weight_hh_l{layer}"]
            np.matmul(inputs.reshape(steps * batch, -1), p[f"lstm.weight_ih_l{layer}"].T,
                      out=gates.reshape(steps * batch, -1))  # every step's x W_ih^T at once
            gates += p[f"lstm.bias_ih_l{layer}"] + p[f"lstm.bias_hh_l{layer}"]
            self.mark("LSTM: input projections")
            h[0], c[0] = b["h"][layer], b["c"][layer]
            for t in range(steps):
                a = gates[t]  # [batch, 4 * hidden]
                np.matmul(h[t], weight_hh.T, out=self.recurrent)
                a += self.recurrent
                a *= self.half
                np.tanh(a, out=a)
                a *= self.half
                a += self.offset  # i, f, g, o (eq-lstm-gates)
                i, f, g, o = a[:, :hidden], a[:, hidden : 2 * hidden], a[:, 2 * hidden : 3 * hidden], a[:, 3 * hidden :]
                np.multiply(f, c[t], out=c[t + 1])  # eq-lstm-state
                np.multiply(i, g, out=self.scratch)
                c[t + 1] += self.scratch
                np.tanh(c[t + 1], out=tanh_c[t])
                np.multiply(o, tanh_c[t], out=h[t + 1])
            self.mark("LSTM: steps, forward")
            inputs = h[1:]
        # The output layer, and the softmax cross-entropy's gradient (softmax - one-hot) / batch, in place.
        logits, rows, targets = self.logits, np.arange(steps * batch), b["targets"].reshape(-1)
        np.matmul(self.top_h[1:].reshape(steps * batch, hidden + 1), self.output, out=logits)  # h W + b
        self.mark("output layer: products")
        logits -= logits.max(axis=1, keepdims=True)
        picked = logits[rows, targets]
        np.exp(logits, out=logits)
        totals = logits.sum(axis=1)
        loss = (np.log(totals).sum() - picked.sum()) / batch  # summed over time, averaged over the streams
        logits *= (1 / (batch * totals))[:, None]
        logits[rows, targets] -= 1 / batch
        self.mark("softmax cross-entropy")
        return float(loss)

    def backward(self, b) -> None:
        p, grads, steps, batch = self.params, self.grads, *b["tokens"].shape
        hidden = self.h[0].shape[-1]
        grad_logits, outputs = self.logits, self.top_h[1:].reshape(steps * batch, hidden + 1)
        np.matmul(outputs.T, grad_logits, out=self.output_grad)  # the weight's gradient, and the bias's
        grad_outputs = self.grad_outputs
        np.matmul(grad_logits, p["output.weight"].T, out=grad_outputs.reshape(steps * batch, hidden))
        self.mark("output layer: products")
        grad_c, scratch, grad_gates = self.grad_c, self.scratch, self.grad_gates
        for layer in reversed(range(self.layers)):
            gates, h, c, tanh_c = self.gates[layer], self.h[layer], self.c[layer], self.tanh_c[layer]
            weight_hh = p[f"lstm.weight_hh_l{layer}"]
            grad_c.fill(0)  # nothing reaches the last cell from outside the chunk
            for t in reversed(range(steps)):
                a, grad_a, grad_h = gates[t], grad_gates[t], grad_outputs[t]  # grad_h: from above and from t + 1
                i, f, g, o = a[:, :hidden], a[:, hidden : 2 * hidden], a[:, 2 * hidden : 3 * hidden], a[:, 3 * hidden :]
                grad_i, grad_f, grad_g, grad_o = (grad_a[:, :hidden], grad_a[:, hidden : 2 * hidden],
                                                  grad_a[:, 2 * hidden : 3 * hidden], grad_a[:, 3 * hidden :])
                np.multiply(tanh_c[t], tanh_c[t], out=scratch)  # eq-lstm-vjp-output
                np.subtract(1, scratch, out=scratch)
                scratch *= o
                scratch *= grad_h
                grad_c += scratch
                np.multiply(grad_h, tanh_c[t], out=grad_o)
                np.multiply(grad_c, g, out=grad_i)  # eq-lstm-vjp-cell
                np.multiply(grad_c, c[t], out=grad_f)
                np.multiply(grad_c, i, out=grad_g)
                np.multiply(g, g, out=g)  # eq-lstm-vjp-gates; the forward's g is not needed any more
                np.subtract(1, g, out=g)
                grad_g *= g
                np.subtract(1, a, out=self.recurrent)  # s (1 - s) for i, f and o (g's block is overwritten)
                self.recurrent *= a
                grad_i *= self.recurrent[:, :hidden]
                grad_f *= self.recurrent[:, hidden : 2 * hidden]
                grad_o *= self.recurrent[:, 3 * hidden :]
                grad_c *= f
                if t > 0:
                    np.matmul(grad_a, weight_hh, out=scratch)
                    grad_outputs[t - 1] += scratch
            self.mark("LSTM: steps, backward")
            flat = grad_gates.reshape(steps * batch, -1)
            inputs = (self.h[layer - 1][1:] if layer > 0 else self.words).reshape(steps * batch, -1)
            np.matmul(flat.T, inputs, out=grads[f"lstm.weight_ih_l{layer}"])
            np.matmul(flat.T, h[:-1].reshape(steps * batch, hidden), out=grads[f"lstm.weight_hh_l{layer}"])
            np.sum(flat, axis=0, out=grads[f"lstm.bias_ih_l{layer}"])
            grads[f"lstm.bias_hh_l{layer}"][...] = grads[f"lstm.bias_ih_l{layer}"]
            below = grad_outputs if layer > 0 else self.grad_words  # the gradient of this layer's inputs
            np.matmul(flat, p[f"lstm.weight_ih_l{layer}"], out=below.reshape(steps * batch, -1))
            self.mark("LSTM: input projections")
        table = grads["embedding.weight"]
        table.fill(0)
        scatter_add(table, b["tokens"].ravel(), self.grad_words.reshape(steps * batch, -1))
        self.mark("embedding: lookup and gradient")

    def clip_coefficient(self, max_norm: float) -> float:
        """clip_grad_norm_'s factor: max_norm / (the global norm + 1e-6), at most 1."""
        norm = np.sqrt(sum(float(np.vdot(grad, grad)) for grad in self.grads.values()))
        return float(min(max_norm / (norm + 1e-6), 1.0))  # a Python float: float32 gradients stay float32
