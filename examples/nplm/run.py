"""Full language-model runs: Kneser-Ney baselines and the neural model on Brown and the Penn Treebank.

Writes examples/nplm/results.json, which the chapter "A neural probabilistic
language model" reads.

    python examples/nplm/run.py [--epochs 6] [--corpora brown ptb]
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
from edugrad.models.nplm import (  # noqa: E402
    KneserNey, NeuralLanguageModel, best_mixture_weight, counts_probabilities, load_corpus, mixture_perplexity,
    target_probabilities, train, windows,
)

CONTEXT = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--hidden", type=int, nargs="+", default=[50])
    parser.add_argument("--corpora", nargs="+", default=["brown", "ptb"])
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()

    start = time.time()
    rows = []
    for name in args.corpora:
        corpus = load_corpus(name)
        vocabulary_size = len(corpus["vocabulary"]) - 1  # <pad> never occurs
        counts = {}
        for order in (3, 4, 5):
            model = counts[order] = KneserNey(order, vocabulary_size).fit(corpus["words"]["train"])
            row = {"corpus": name, "model": f"Kneser-Ney, order {order}",
                   "valid_perplexity": model.perplexity(corpus["words"]["valid"], CONTEXT),
                   "test_perplexity": model.perplexity(corpus["words"]["test"], CONTEXT)}
            rows.append(row)
            print(row, f"({(time.time() - start) / 60:.1f} min)", flush=True)
        for hidden_size in args.hidden:
            set_seed(0)
            model = NeuralLanguageModel(len(corpus["vocabulary"]), CONTEXT, 60, hidden_size)
            history = train(model, corpus, epochs=args.epochs)
            row = {"corpus": name, "model": f"neural, m=60 h={hidden_size}",
                   "valid_perplexity": min(history["valid_perplexity"]), "test_perplexity": history["test_perplexity"],
                   "best_epoch": history["best_epoch"], "valid_by_epoch": history["valid_perplexity"]}
            rows.append(row)
            print(row, f"({(time.time() - start) / 60:.1f} min)", flush=True)
            probabilities = {split: (target_probabilities(model, *windows(corpus[split], CONTEXT)),
                                     counts_probabilities(counts[3], corpus["words"][split], CONTEXT)) for split in ("valid", "test")}
            weight = best_mixture_weight(*probabilities["valid"])
            row = {"corpus": name, "model": f"mixture: m=60 h={hidden_size} and Kneser-Ney 3, weight {weight:.2f}",
                   "valid_perplexity": mixture_perplexity(*probabilities["valid"], weight),
                   "test_perplexity": mixture_perplexity(*probabilities["test"], weight)}
            rows.append(row)
            print(row, f"({(time.time() - start) / 60:.1f} min)", flush=True)
    run = {
        "command": "python " + " ".join(["examples/nplm/run.py"] + sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_time_minutes": (time.time() - start) / 60,
        "machine": describe(),
        "corpora": args.corpora,
    }
    # Runs for different corpora may be made separately (in parallel): each replaces its corpora's rows.
    results = json.loads(args.output.read_text()) if args.output.exists() else {"runs": [], "rows": []}
    results["runs"] = [r for r in results["runs"] if not set(r["corpora"]) & set(args.corpora)] + [run]
    results["rows"] = [r for r in results["rows"] if r["corpus"] not in args.corpora] + rows
    results["settings"] = {"context": CONTEXT, "optimizer": "Adagrad lr 0.05", "batch_size": 256, "max_epochs": args.epochs,
                           "early_stopping_patience": 1, "evaluated_positions": "every word after the first four of each split"}
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
