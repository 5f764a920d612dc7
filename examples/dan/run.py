"""Full DAN runs on the Stanford Sentiment Treebank: fine-grained and binary, several seeds.

Trains each configuration with early stopping on the dev sentences, measures
test accuracy, and writes examples/dan/results.json, which the chapter
"A Deep Averaging Network for sentiment" reads.

    python examples/dan/run.py [--seeds 5] [--epochs 10]
"""

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import describe  # noqa: E402

from edugrad.experiments import set_seed  # noqa: E402
from edugrad.models.dan import DeepAveragingNetwork, load_sst, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()

    start = time.time()
    rows = []
    for task, fine_grained in [("fine-grained", True), ("binary", False)]:
        data = load_sst(fine_grained)
        for model_name, num_layers in [("DAN", 2)]:
            row = {"model": model_name, "task": task, "seeds": [], "test_accuracy": [], "dev_accuracy": [], "best_epoch": []}
            for seed in range(args.seeds):
                set_seed(seed)
                model = DeepAveragingNetwork(len(data["vocabulary"]), data["num_classes"], num_layers=num_layers)
                history = train(model, data, epochs=args.epochs)
                row["seeds"].append(seed)
                row["test_accuracy"].append(history["test_accuracy"])
                row["dev_accuracy"].append(max(history["dev_accuracy"]))
                row["best_epoch"].append(history["best_epoch"])
                print(f"{model_name} {task} seed {seed}: best epoch {history['best_epoch']}, "
                      f"dev {max(history['dev_accuracy']):.4f}, test {history['test_accuracy']:.4f} "
                      f"({(time.time() - start) / 60:.1f} min)", flush=True)
            rows.append(row)
    results = {
        "command": "python " + " ".join(["examples/dan/run.py"] + sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_time_minutes": (time.time() - start) / 60,
        "machine": describe(),
        "settings": {"epochs": args.epochs, "embedding_dim": 300, "hidden_size": 300, "hidden_layers (DAN)": 2,
                     "word_dropout": 0.3, "optimizer": "Adagrad lr 0.01", "batch_size": 256, "early_stopping_patience": 3},
        "rows": rows,
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
