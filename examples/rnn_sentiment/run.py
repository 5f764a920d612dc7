"""Full RNN and LSTM runs on the Stanford Sentiment Treebank: fine-grained and binary, several seeds.

Trains each configuration on the training phrases with early stopping on the
dev sentences, measures test accuracy, and writes
examples/rnn_sentiment/results.json, which the chapter "Recurrent networks
for sentiment" reads. A last pair of rows trains the LSTM on the training
sentences alone, as Tai et al. (2015) trained theirs. The file is rewritten
after every configuration, so an interrupted run leaves the rows it finished.

    python examples/rnn_sentiment/run.py [--seeds 5] [--epochs 3] [--sentence-epochs 6] [--patience 1]

The configurations can be split between processes (``--only``, each with its
own ``--output``) and their files joined afterwards with ``--merge``:

    python examples/rnn_sentiment/run.py --only lstm-phrases --tasks fine-grained --output part1.json
    python examples/rnn_sentiment/run.py --only rnn-phrases lstm-sentences --output part2.json
    python examples/rnn_sentiment/run.py --merge part1.json part2.json
"""

import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import describe  # noqa: E402

from edugrad.experiments import set_seed  # noqa: E402
from edugrad.models.rnn_sentiment import RecurrentClassifier, load_sst, train  # noqa: E402

EMBEDDING_DIM, HIDDEN_SIZE, DROPOUT, LR, BATCH_SIZE, MAX_NORM = 100, 100, 0.5, 0.05, 64, 5.0
CONFIGURATIONS = [("lstm", "phrases"), ("rnn", "phrases"), ("lstm", "sentences")]  # (cell, training data)
CONFIGURATION_NAMES = [f"{cell}-{train_on}" for cell, train_on in CONFIGURATIONS]
TASKS = ["fine-grained", "binary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3, help="at most, on the phrases")
    parser.add_argument("--sentence-epochs", type=int, default=6, help="at most, on the sentences alone")
    parser.add_argument("--patience", type=int, default=1)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    parser.add_argument("--only", nargs="+", choices=CONFIGURATION_NAMES, default=CONFIGURATION_NAMES)
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=TASKS)
    parser.add_argument("--merge", nargs="+", type=Path, help="join these results files into --output, and train nothing")
    args = parser.parse_args()
    if args.merge:
        merge(args.merge, args.output)
        return

    start = time.time()
    configurations = [(cell, train_on, task) for cell, train_on in CONFIGURATIONS
                      if f"{cell}-{train_on}" in args.only for task in args.tasks]
    rows, datasets = [], {}
    for cell, train_on, task in configurations:
        key = (task, train_on)
        if key not in datasets:
            datasets[key] = load_sst(task == "fine-grained", train_on=train_on)
        data = datasets[key]
        epochs = args.epochs if train_on == "phrases" else args.sentence_epochs
        model_name = cell.upper()
        row = {"model": model_name, "task": task, "train_on": train_on, "max_epochs": epochs, "seeds": [],
               "test_accuracy": [], "dev_accuracy": [], "best_epoch": [], "epochs_run": [], "minutes": []}
        for seed in range(args.seeds):
            set_seed(seed)
            run_start = time.time()
            model = RecurrentClassifier(len(data["vocabulary"]), data["num_classes"], cell=cell,
                                        embedding_dim=EMBEDDING_DIM, hidden_size=HIDDEN_SIZE, dropout=DROPOUT)
            history = train(model, data, epochs=epochs, lr=LR, batch_size=BATCH_SIZE, max_norm=MAX_NORM,
                            patience=args.patience)
            row["seeds"].append(seed)
            row["test_accuracy"].append(history["test_accuracy"])
            row["dev_accuracy"].append(max(history["dev_accuracy"]))
            row["best_epoch"].append(history["best_epoch"])
            row["epochs_run"].append(len(history["dev_accuracy"]))
            row["minutes"].append((time.time() - run_start) / 60)
            print(f"{model_name} {task} ({train_on}) seed {seed}: best epoch {history['best_epoch']} of "
                  f"{len(history['dev_accuracy'])}, dev {max(history['dev_accuracy']):.4f}, "
                  f"test {history['test_accuracy']:.4f} ({(time.time() - start) / 60:.1f} min)", flush=True)
        rows.append(row)
        write(args, rows, start)
    print(f"wrote {args.output}")


def write(args, rows, start) -> None:
    results = {
        "command": "python " + " ".join(["examples/rnn_sentiment/run.py"] + sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_time_minutes": (time.time() - start) / 60,
        "machine": describe(),
        "settings": {"max_epochs (phrases)": args.epochs, "max_epochs (sentences)": args.sentence_epochs,
                     "early_stopping_patience": args.patience, "embedding_dim": EMBEDDING_DIM,
                     "hidden_size": HIDDEN_SIZE, "dropout": DROPOUT, "optimizer": f"Adagrad lr {LR}",
                     "batch_size": BATCH_SIZE, "clip_grad_norm": MAX_NORM, "batches": "bucketed by length",
                     "summary": "last real state", "dtype": "float32"},
        "rows": rows,
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")


def merge(paths, output) -> None:
    """One results file from the files of processes that each ran some configurations (the same settings)."""
    parts = [json.loads(path.read_text()) for path in paths]
    if any(part["settings"] != parts[0]["settings"] for part in parts):
        raise ValueError(f"--merge: the files {[str(path) for path in paths]} were written with different settings")
    ends = [datetime.strptime(part["date"], "%Y-%m-%d %H:%M UTC") for part in parts]
    starts = [end - timedelta(minutes=part["wall_time_minutes"]) for end, part in zip(ends, parts)]
    results = {
        "command": " ; ".join(part["command"] for part in parts),
        "date": max(part["date"] for part in parts),
        "wall_time_minutes": (max(ends) - min(starts)).total_seconds() / 60,  # from the first start to the last end
        "processes": [{"command": part["command"], "date": part["date"], "wall_time_minutes": part["wall_time_minutes"]}
                      for part in parts],
        "note": "the processes overlapped in time on a machine shared with other work; wall_time_minutes runs from "
                "the first one's start to the last one's end",
        "machine": parts[0]["machine"],
        "settings": parts[0]["settings"],
        "rows": [row for part in parts for row in part["rows"]],
    }
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
