"""Which optimizer, learning rate and batch size gives the best validation perplexity per CPU minute?

Trains the neural model (m=60, h=50, context 4) for a fixed CPU-time budget per setting and
prints the validation perplexity (first 30,000 validation windows) at the end; appends to
examples/nplm/measure.json.

    python examples/nplm/measure.py --corpus ptb --seconds 100 --settings adagrad:0.05:256 sgd:0.5:256
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import describe  # noqa: E402

from edugrad import ops, optim  # noqa: E402
from edugrad.experiments import set_seed  # noqa: E402
from edugrad.models.nplm import NeuralLanguageModel, load_corpus, perplexity, windows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="ptb")
    parser.add_argument("--seconds", type=float, default=100)
    parser.add_argument("--settings", nargs="+", required=True, help="optimizer:lr:batch[:direct]")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("measure.json"))
    args = parser.parse_args()
    corpus = load_corpus(args.corpus)
    contexts, targets = windows(corpus["train"], 4)
    valid = tuple(part[:30_000] for part in windows(corpus["valid"], 4))
    results = []
    for setting in args.settings:
        name, lr, batch_size, *rest = setting.split(":")
        lr, batch_size, direct = float(lr), int(batch_size), bool(rest and rest[0] == "direct")
        set_seed(0)
        model = NeuralLanguageModel(len(corpus["vocabulary"]), 4, 60, 50, direct=direct)
        optimizer = {"adagrad": optim.Adagrad, "sgd": optim.SGD}[name](model.parameters(), lr=lr)
        order = np.random.permutation(len(targets))
        start, steps = time.process_time(), 0
        while time.process_time() - start < args.seconds:
            batch = order[(steps * batch_size) % len(order):][:batch_size]
            optimizer.zero_grad()
            loss = ops.cross_entropy(model(contexts[batch]), targets[batch])
            loss.backward()
            optimizer.step()
            steps += 1
        seconds = time.process_time() - start
        row = {"corpus": args.corpus, "setting": setting, "budget_seconds": args.seconds, "cpu_seconds": seconds, "steps": steps,
               "ms_per_step": 1000 * seconds / steps, "windows": steps * batch_size,
               "valid_perplexity_30k": perplexity(model, *valid)}
        print(row, flush=True)
        results.append(row)
    old = json.loads(args.output.read_text()) if args.output.exists() else {"machine": describe(), "rows": []}
    old["rows"] += results
    args.output.write_text(json.dumps(old, indent=2) + "\n")


if __name__ == "__main__":
    main()
