"""The workloads in edugrad: the book's own models where the book has one.

DAN, NPLM, skip-gram and the LSTM language model are the classes of chapters
"A Deep Averaging Network", "A neural probabilistic language model", "Word
vectors" and "An LSTM language model"; the MLP is an ``nn.Sequential``. Weights are overwritten with the shared starting
weights; word dropout and dropout are off so that every implementation computes the same thing.
"""

import numpy as np

from edugrad import Tensor, nn, ops, optim
from edugrad.data import PaddedBatch
from edugrad.models.dan import DeepAveragingNetwork
from edugrad.models.lstm_lm import LSTMLanguageModel
from edugrad.models.nplm import NeuralLanguageModel
from edugrad.models.sgns import SkipGram


def build(workload, dtype):
    s = workload.sizes
    if workload.name == "mlp":
        return nn.Sequential(nn.Linear(s["inputs"], s["hidden"], dtype=dtype), nn.ReLU(),
                             nn.Linear(s["hidden"], s["hidden"], dtype=dtype), nn.ReLU(),
                             nn.Linear(s["hidden"], 1, dtype=dtype))
    if workload.name == "dan":
        return DeepAveragingNetwork(s["vocabulary"], s["classes"], s["embedding"], s["hidden"], word_dropout=0.0,
                                    dtype=dtype)
    if workload.name == "nplm":
        return NeuralLanguageModel(s["vocabulary"], s["context"], s["embedding"], s["hidden"], dtype=dtype)
    if workload.name == "sgns":
        return SkipGram(s["vocabulary"], s["dimension"], dtype=dtype)
    if workload.name == "lstm_lm":
        return LSTMLanguageModel(s["vocabulary"], s["embedding"], s["hidden"], s["layers"], dropout=0.0, dtype=dtype)
    raise ValueError(f"unknown workload {workload.name!r}")


class EdugradModel:
    def __init__(self, workload, weights: dict, sparse: bool = False):
        self.workload = workload
        dtype = next(iter(weights.values())).dtype
        self.model = build(workload, dtype)
        self.params = dict(self.model.named_parameters())
        for name, array in weights.items():
            self.params[name].value = array.copy()
        for module in self.model.modules():
            if isinstance(module, nn.Embedding):
                module.sparse = sparse
        self.optimizer = optim.SGD(self.model.parameters(), lr=workload.lr)
        self.loss = getattr(self, workload.name)

    set_to_none = False  # keep the gradient arrays from step to step (chapter "The computation graph", graph-accumulating)

    def step(self, batch) -> float:
        self.optimizer.zero_grad(set_to_none=self.set_to_none)
        loss = self.loss(batch)
        loss.backward()
        if self.workload.max_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.workload.max_norm)
        self.optimizer.step()
        return float(loss.value)

    def gradients(self, batch) -> tuple:
        """The loss and the gradients the update uses (after clipping, if the workload clips)."""
        self.optimizer.zero_grad()
        loss = self.loss(batch)
        loss.backward()
        if self.workload.max_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.workload.max_norm)
        return float(loss.value), {name: np.asarray(param.grad) for name, param in self.params.items()}

    def mlp(self, b):
        return ops.mse_loss(self.model(b["inputs"]), b["targets"])

    def dan(self, b):
        padded = PaddedBatch(b["indices"], b["lengths"], b["indices"] != 0)
        return ops.cross_entropy(self.model(padded), b["labels"])

    def nplm(self, b):
        return ops.cross_entropy(self.model(b["contexts"]), b["next_words"])

    def sgns(self, b):
        return self.model(b["centres"], b["candidates"])

    def lstm_lm(self, b):
        states = (Tensor(b["h"], requires_grad=False), Tensor(b["c"], requires_grad=False))
        logits, _ = self.model(b["tokens"], states)  # [time * batch, vocabulary]
        loss = ops.cross_entropy(logits, b["targets"].reshape(-1), reduction="sum")
        return loss / b["tokens"].shape[1]  # summed over time, averaged over the streams
