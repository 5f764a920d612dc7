"""Full language-model runs: Kneser-Ney baselines and the neural model on Brown and the Penn Treebank.

Writes examples/nplm/results.json, which the chapter "A neural probabilistic
language model" reads.

    python examples/nplm/run.py --corpora ptb [--hidden 50] [--embedding 60] [--direct] [--max-minutes 50]

A run replaces only the rows it makes: those of its corpora's Kneser-Ney models
(unless --no-counts), and those of its variant (m, h, direct or not) of the
neural model and its mixture. Runs for different corpora or variants may be
made separately, in parallel, and land in the one file.
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


def log(line: str) -> None:
    print(f"[{datetime.now(timezone.utc).strftime('%H:%M:%S')}] {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", nargs="+", default=["brown", "ptb"])
    parser.add_argument("--hidden", type=int, default=50)
    parser.add_argument("--embedding", type=int, default=60)
    parser.add_argument("--direct", action="store_true", help="direct connections W from the input to the output")
    parser.add_argument("--optimizer", default="adagrad", choices=["adagrad", "sgd"])
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=40, help="the epoch limit")
    parser.add_argument("--max-halvings", type=int, default=3)
    parser.add_argument("--min-improvement", type=float, default=0.003)
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-time budget for each corpus's training")
    parser.add_argument("--no-counts", action="store_true", help="keep the file's Kneser-Ney rows (fit order 3 for the mixture only)")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()

    variant = f"m={args.embedding} h={args.hidden}" + (" direct" if args.direct else "")
    start = time.time()
    rows = []
    for name in args.corpora:
        corpus = load_corpus(name)
        vocabulary_size = len(corpus["vocabulary"]) - 1  # <pad> never occurs
        log(f"{name}: {len(corpus['train']):,} / {len(corpus['valid']):,} / {len(corpus['test']):,} words, "
            f"vocabulary {vocabulary_size:,}")
        counts = {}
        for order in ((3,) if args.no_counts else (3, 4, 5)):
            model = counts[order] = KneserNey(order, vocabulary_size).fit(corpus["words"]["train"])
            if args.no_counts:
                continue
            row = {"corpus": name, "variant": "counts", "model": f"Kneser-Ney, order {order}",
                   "valid_perplexity": model.perplexity(corpus["words"]["valid"], CONTEXT),
                   "test_perplexity": model.perplexity(corpus["words"]["test"], CONTEXT)}
            rows.append(row)
            log(f"{row} ({(time.time() - start) / 60:.1f} min)")
        set_seed(0)
        model = NeuralLanguageModel(len(corpus["vocabulary"]), CONTEXT, args.embedding, args.hidden, direct=args.direct)
        trained = time.time()
        history = train(model, corpus, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, optimizer=args.optimizer,
                        min_improvement=args.min_improvement, max_halvings=args.max_halvings,
                        max_minutes=args.max_minutes, log=lambda line: log(f"{name} {variant}: {line}"))
        row = {"corpus": name, "variant": variant, "model": f"neural, {variant}",
               "embedding_dim": args.embedding, "hidden_size": args.hidden, "direct": args.direct,
               "valid_perplexity": history["valid_perplexity"][history["best_epoch"] - 1],
               "test_perplexity": history["test_perplexity"], "best_epoch": history["best_epoch"],
               "stopped": history["stopped"], "training_minutes": (time.time() - trained) / 60,
               "valid_by_epoch": history["valid_perplexity"], "lr_by_epoch": history["lr"],
               "train_loss_by_epoch": history["train_loss"], "minutes_by_epoch": history["epoch_minutes"],
               "windows_by_epoch": history["epoch_windows"], "training_windows": len(windows(corpus["train"], CONTEXT)[1])}
        rows.append(row)
        log(f"{row} ({(time.time() - start) / 60:.1f} min)")
        probabilities = {split: (target_probabilities(model, *windows(corpus[split], CONTEXT)),
                                 counts_probabilities(counts[3], corpus["words"][split], CONTEXT)) for split in ("valid", "test")}
        weight = best_mixture_weight(*probabilities["valid"])
        row = {"corpus": name, "variant": variant, "model": f"mixture: {variant} and Kneser-Ney 3, weight {weight:.2f}",
               "weight": weight, "valid_perplexity": mixture_perplexity(*probabilities["valid"], weight),
               "test_perplexity": mixture_perplexity(*probabilities["test"], weight)}
        rows.append(row)
        log(f"{row} ({(time.time() - start) / 60:.1f} min)")
    made = sorted({(row["corpus"], row["variant"]) for row in rows})
    run = {
        "command": "python " + " ".join(["examples/nplm/run.py"] + sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_time_minutes": (time.time() - start) / 60,
        "machine": describe(),
        "corpora": args.corpora,
        "rows_made": [list(key) for key in made],
        "settings": {"context": CONTEXT, "optimizer": args.optimizer, "lr": args.lr, "batch_size": args.batch_size,
                     "max_epochs": args.epochs, "schedule": "halve on an epoch improving validation by less than "
                     f"{args.min_improvement:.1%}, stop after {args.max_halvings} halvings",
                     "max_halvings": args.max_halvings, "min_improvement": args.min_improvement,
                     "max_minutes": args.max_minutes},
    }
    # Re-read the file just before writing: another run may have written it meanwhile.
    results = json.loads(args.output.read_text()) if args.output.exists() else {"runs": [], "rows": []}
    replaced = set(made)
    results["rows"] = [r for r in results["rows"] if "variant" in r and (r["corpus"], r["variant"]) not in replaced] + rows
    kept = {(r["corpus"], r["variant"]) for r in results["rows"]} - replaced
    results["runs"] = [r for r in results["runs"] if {tuple(key) for key in r.get("rows_made", [])} & kept] + [run]
    results["settings"] = {"context": CONTEXT, "evaluated_positions": "every word after the first four of each split",
                           "note": "each run's own settings are in its entry of runs"}
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
