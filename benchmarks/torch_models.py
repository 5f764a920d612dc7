"""The same workloads in PyTorch, written as a PyTorch user would (autograd, torch.optim.SGD).

Weights are leaf tensors in edugrad's layout (Linear weights [inputs,
outputs]) so that all three implementations start from the same numbers. The
LSTM language model's recurrent layers are a ``torch.nn.LSTM``, whose
parameters have the same names and layout as edugrad's ``nn.LSTM``.
"""

import numpy as np
import torch
import torch.nn.functional as F


class TorchModel:
    def __init__(self, workload, weights: dict, sparse: bool = False):
        self.workload, self.sparse = workload, sparse
        self.params = {name: torch.tensor(array, requires_grad=True) for name, array in weights.items()}
        if workload.name == "lstm_lm":
            s = workload.sizes
            self.lstm = torch.nn.LSTM(s["embedding"], s["hidden"], s["layers"], dtype=self.params["output.bias"].dtype)
            with torch.no_grad():
                for name, param in self.lstm.named_parameters():
                    param.copy_(self.params[f"lstm.{name}"])
                    self.params[f"lstm.{name}"] = param
        self.optimizer = torch.optim.SGD(self.params.values(), lr=workload.lr)
        self.forward = getattr(self, workload.name)

    def to_torch(self, batch):
        return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in batch.items()}

    def step(self, batch) -> float:
        self.optimizer.zero_grad()
        loss = self.forward(batch)
        loss.backward()
        if self.workload.max_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params.values(), self.workload.max_norm)
        self.optimizer.step()
        return loss.item()

    def gradients(self, batch) -> tuple:
        self.optimizer.zero_grad()
        loss = self.forward(batch)
        loss.backward()
        if self.workload.max_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params.values(), self.workload.max_norm)
        grads = {}
        for name, param in self.params.items():
            grad = param.grad
            grads[name] = (grad.to_dense() if grad.is_sparse else grad).numpy().copy()
        return loss.item(), grads

    def mlp(self, b):
        p = self.params
        a1 = torch.relu(b["inputs"] @ p["0.weight"] + p["0.bias"])
        a2 = torch.relu(a1 @ p["2.weight"] + p["2.bias"])
        return F.mse_loss(a2 @ p["4.weight"] + p["4.bias"], b["targets"])

    def dan(self, b):
        p = self.params
        # The fused lookup-and-average; padding (index 0) is left out of each mean.
        average = F.embedding_bag(b["indices"], p["embedding.weight"], mode="mean", padding_idx=0, sparse=self.sparse)
        a1 = torch.relu(average @ p["hidden.0.weight"] + p["hidden.0.bias"])
        a2 = torch.relu(a1 @ p["hidden.2.weight"] + p["hidden.2.bias"])
        return F.cross_entropy(a2 @ p["output.weight"] + p["output.bias"], b["labels"])

    def nplm(self, b):
        p, contexts = self.params, b["contexts"]
        x = F.embedding(contexts, p["embedding.weight"], sparse=self.sparse).reshape(len(contexts), -1)
        hidden = torch.tanh(x @ p["hidden.weight"] + p["hidden.bias"])
        return F.cross_entropy(hidden @ p["output.weight"] + p["output.bias"], b["next_words"])

    def sgns(self, b):
        p, candidates = self.params, b["candidates"]
        words = F.embedding(b["centres"], p["words.weight"], sparse=self.sparse)
        contexts = F.embedding(candidates, p["contexts.weight"], sparse=self.sparse)
        scores = torch.bmm(contexts, words[:, :, None])[:, :, 0]  # row-wise dot products
        signs = torch.where(torch.arange(candidates.shape[1]) == 0, 1.0, -1.0).to(scores.dtype)
        return -F.logsigmoid(scores * signs).sum()

    def lstm_lm(self, b):
        p, tokens = self.params, b["tokens"]
        words = F.embedding(tokens, p["embedding.weight"])  # [time, batch, embedding]
        outputs, _ = self.lstm(words, (b["h"], b["c"]))  # [time, batch, hidden]
        logits = torch.addmm(p["output.bias"], outputs.reshape(-1, outputs.shape[-1]), p["output.weight"])
        return F.cross_entropy(logits, b["targets"].reshape(-1), reduction="sum") / tokens.shape[1]
