"""Learn y = sum(x) / 2 on all 10-bit vectors with a small MLP.

Written against the original edugrad API (module paths, `Tensor(..., name=...)`,
`ops.relu`, `ops.mse_loss`, `optim.SGD(model.parameters())` with its default
learning rate, `data.BatchIterator`, `num_batches`, `get_graph_above`), so
that course code written for it is known to run unchanged.

Run from the repository root:  python examples/toy_half_sum/main.py
"""

import itertools

import numpy as np

import edugrad
import edugrad.nn as nn


class MLP(nn.Module):
    def __init__(self, input_size, output_size):
        super(MLP, self).__init__()
        self.fc1 = nn.Linear(input_size, 32)
        self.fc2 = nn.Linear(32, 32)
        self.output = nn.Linear(32, output_size)

    def forward(self, inputs):
        hidden = edugrad.ops.relu(self.fc1(inputs))
        hidden = edugrad.ops.relu(self.fc2(hidden))
        return self.output(hidden)


if __name__ == "__main__":
    np.random.seed(1)
    input_size = 10
    batch_size = 32
    num_epochs = 20

    # inputs: every binary vector of length input_size, shuffled before splitting
    inputs = np.array(list(itertools.product([0, 1], repeat=input_size))).astype(float)
    np.random.shuffle(inputs)
    targets = np.apply_along_axis(lambda row: np.sum(row) / 2, 1, inputs)[:, np.newaxis]

    train_split = int(0.75 * len(inputs))
    train_inputs, train_targets = inputs[:train_split], targets[:train_split]
    test_inputs, test_targets = inputs[train_split:], targets[train_split:]

    model = MLP(input_size, 1)
    optimizer = edugrad.optim.SGD(model.parameters())
    train_iterator = edugrad.data.BatchIterator(batch_size=batch_size)

    for epoch in range(num_epochs):
        total_loss = 0.0
        for batch in train_iterator(train_inputs, train_targets):
            model.zero_grad()
            predicted = model(batch.inputs)
            loss = edugrad.ops.mse_loss(predicted, batch.targets)
            loss.backward()
            optimizer.step()
            total_loss += loss.value
        print(f"Epoch {epoch} loss: {total_loss / train_iterator.num_batches}")

    test_predictions = model(edugrad.Tensor(test_inputs, name="x"))
    loss = edugrad.ops.mse_loss(test_predictions, edugrad.Tensor(test_targets, name="y"))
    print(f"Test loss: {loss.value}")
    print(f"Graph edges: {len(loss.get_graph_above())}")
