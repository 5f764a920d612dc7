"""The workloads in JAX (``pip install "jax[cpu]"``), eager and compiled, written as its users write them.

The weights are a dict of JAX arrays (edugrad's names and layout), the loss a
pure function of the weights and the batch. A step is ``jax.value_and_grad``
of the loss, the clipping of the gradients' global norm (for the workload that
clips) and the SGD update ``p - lr * g`` over the dict, which returns new
weights. Two implementations:

- ``jax``: all of it eager, each operation dispatched as it runs; the LSTM's
  time loop is a Python loop.
- ``jax_jit``: the whole step (loss, gradients, clipping, update) one
  ``jax.jit``-compiled function whose weights are donated (their buffers are
  reused for the new weights, as a training loop that drops the old weights
  lets XLA do); the LSTM's time loop is ``jax.lax.scan``. The compilation happens
  in the benchmark's warm-up step, outside the timed rounds.

Double precision needs ``jax_enable_x64``, which this module sets when imported
(float32 weights stay float32). Each step blocks until the new weights are
computed, so that a step's time is its computation's, not its dispatch's.

JAX's gradients are dense arrays (the gradient of ``table[rows]`` is a scatter
into a zero table), so it has no row-sparse variant: the benchmark's "sparse"
rows leave its cells empty.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)


def cross_entropy(logits, labels):
    """The losses of the rows (not reduced)."""
    log_probabilities = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(log_probabilities, labels[:, None], axis=-1)[:, 0]


def mlp(p, b):
    a1 = jax.nn.relu(b["inputs"] @ p["0.weight"] + p["0.bias"])
    a2 = jax.nn.relu(a1 @ p["2.weight"] + p["2.bias"])
    return jnp.mean((a2 @ p["4.weight"] + p["4.bias"] - b["targets"]) ** 2)


def dan(p, b):
    indices = b["indices"]
    # The padding row is masked out, so that it gets no gradient (as padding_idx does in PyTorch).
    words = p["embedding.weight"][indices] * (indices != 0)[:, :, None]
    average = words.sum(axis=1) / b["lengths"][:, None].astype(words.dtype)
    a1 = jax.nn.relu(average @ p["hidden.0.weight"] + p["hidden.0.bias"])
    a2 = jax.nn.relu(a1 @ p["hidden.2.weight"] + p["hidden.2.bias"])
    return cross_entropy(a2 @ p["output.weight"] + p["output.bias"], b["labels"]).mean()


def nplm(p, b):
    contexts = b["contexts"]
    x = p["embedding.weight"][contexts].reshape(contexts.shape[0], -1)
    hidden = jnp.tanh(x @ p["hidden.weight"] + p["hidden.bias"])
    return cross_entropy(hidden @ p["output.weight"] + p["output.bias"], b["next_words"]).mean()


def sgns(p, b):
    candidates = b["candidates"]
    words = p["words.weight"][b["centres"]]  # [batch, dimension]
    contexts = p["contexts.weight"][candidates]  # [batch, 1 + negatives, dimension]
    scores = jnp.einsum("bd,bkd->bk", words, contexts)
    signs = jnp.where(jnp.arange(candidates.shape[1]) == 0, 1, -1).astype(words.dtype)
    return -jax.nn.log_sigmoid(signs * scores).sum()


def python_scan(cell, carry, xs):
    """jax.lax.scan's semantics as a Python loop: each step's operations dispatched eagerly."""
    outputs = []
    for x in xs:
        carry, y = cell(carry, x)
        outputs.append(y)
    return carry, jnp.stack(outputs)


def lstm_lm(p, b, layers, scan):
    tokens = b["tokens"]
    steps, batch = tokens.shape
    inputs = p["embedding.weight"][tokens]  # [time, batch, embedding]
    for layer in range(layers):
        w_ih, w_hh = p[f"lstm.weight_ih_l{layer}"], p[f"lstm.weight_hh_l{layer}"]
        projected = inputs @ w_ih.T + (p[f"lstm.bias_ih_l{layer}"] + p[f"lstm.bias_hh_l{layer}"])  # every step's

        def cell(state, projected_t, w_hh=w_hh):
            h, c = state
            i, f, g, o = jnp.split(projected_t + h @ w_hh.T, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        _, inputs = scan(cell, (b["h"][layer], b["c"][layer]), projected)
    logits = inputs.reshape(steps * batch, -1) @ p["output.weight"] + p["output.bias"]
    return cross_entropy(logits, b["targets"].reshape(-1)).sum() / batch  # summed over time, averaged over the streams


def clip_by_global_norm(grads: dict, max_norm: float) -> dict:
    """torch.nn.utils.clip_grad_norm_: scale by max_norm / (global norm + 1e-6) when that is below 1."""
    norm = jnp.sqrt(sum(jnp.vdot(grad, grad) for grad in jax.tree_util.tree_leaves(grads)))
    coefficient = jnp.minimum(max_norm / (norm + 1e-6), 1.0)
    return jax.tree_util.tree_map(lambda grad: grad * coefficient.astype(grad.dtype), grads)


class JaxModel:
    jit = False

    def __init__(self, workload, weights: dict, sparse: bool = False):
        if sparse:
            raise NotImplementedError("JAX has only dense gradients")
        self.workload = workload
        self.params = {name: jnp.array(array) for name, array in weights.items()}
        loss = globals()[workload.name]
        if workload.name == "lstm_lm":
            layers, scan = workload.sizes["layers"], jax.lax.scan if self.jit else python_scan
            loss = lambda p, b: lstm_lm(p, b, layers, scan)  # noqa: E731
        max_norm, lr = workload.max_norm, workload.lr

        def gradients(params, batch):
            loss_value, grads = jax.value_and_grad(loss)(params, batch)
            if max_norm is not None:
                grads = clip_by_global_norm(grads, max_norm)
            return loss_value, grads

        def step(params, batch):
            loss_value, grads = gradients(params, batch)
            return jax.tree_util.tree_map(lambda param, grad: param - lr * grad, params, grads), loss_value

        if self.jit:
            gradients, step = jax.jit(gradients), jax.jit(step, donate_argnums=0)
        self._gradients, self._step = gradients, step

    def to_device(self, batch) -> dict:
        return {key: jnp.asarray(value) for key, value in batch.items()}

    def gradients(self, batch) -> tuple:
        """The loss and the gradients the update uses (after clipping, if the workload clips)."""
        loss, grads = self._gradients(self.params, batch)
        return float(loss), {name: np.asarray(grad) for name, grad in grads.items()}

    def step(self, batch) -> float:
        self.params, loss = self._step(self.params, batch)
        jax.block_until_ready(self.params)
        return float(loss)


class JaxJitModel(JaxModel):
    jit = True
