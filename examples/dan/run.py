"""Full DAN and NBOW runs on the Stanford Sentiment Treebank: fine-grained and binary, several seeds.

Trains each model with the recipe of the chapter (the authors' code's: a fixed
number of epochs, the final model tested), measures dev accuracy after every
epoch and test accuracy at the end, and writes examples/dan/results.json,
which the chapter "A Deep Averaging Network for sentiment" reads. The file is
updated after every seed, so an interrupted run keeps what it did, and the
tasks and models may be run by separate processes at the same time (each
replaces its own rows):

    python examples/dan/run.py [--seeds 5] [--epochs 5] [--models DAN NBOW] [--tasks fine-grained binary]
"""

import argparse
import fcntl
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import describe  # noqa: E402

from edugrad.experiments import set_seed  # noqa: E402
from edugrad.models.dan import RECIPE, DeepAveragingNetwork, load_sst, train  # noqa: E402

LAYERS = {"DAN": 3, "NBOW": 0}  # NBOW: the average goes straight to the softmax layer
TASKS = {"fine-grained": True, "binary": False}  # the value: fine_grained


def update(output: Path, run: dict, rows: list, settings: dict) -> None:
    """Replace this run's tasks' rows (and its record) in the results file, under a lock."""
    with open(Path(tempfile.gettempdir()) / "edugrad-dan-results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(output.read_text()) if output.exists() else {}
        if results.get("settings") != settings:  # another recipe: start afresh
            results = {"settings": settings, "runs": [], "rows": []}
        done = {(row["task"], row["model"]) for row in rows}
        covers = lambda record: {(task, model) for task in record["tasks"] for model in record["models"]}  # noqa: E731
        results["runs"] = [r for r in results["runs"] if not covers(r) & covers(run)] + [run]
        results["rows"] = [r for r in results["rows"] if (r["task"], r["model"]) not in done] + rows
        output.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    parser.add_argument("--models", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()

    start, cpu_start = time.time(), time.process_time()
    rows = []
    settings = {**RECIPE, "epochs": args.epochs, "embedding_dim": 300, "hidden_size": 300, "hidden_layers": LAYERS}
    for task in args.tasks:
        data = load_sst(TASKS[task])
        for model_name in args.models:
            row = {"model": model_name, "task": task, "seeds": [], "test_accuracy": [], "dev_accuracy": [],
                   "dev_accuracy_by_epoch": [], "train_loss_by_epoch": [], "minutes": []}
            rows.append(row)
            for seed in range(args.seeds):
                run_start = time.time()
                set_seed(seed)
                model = DeepAveragingNetwork(len(data["vocabulary"]), data["num_classes"], num_layers=LAYERS[model_name])
                history = train(model, data, epochs=args.epochs)
                row["seeds"].append(seed)
                row["test_accuracy"].append(history["test_accuracy"])
                row["dev_accuracy"].append(history["dev_accuracy"][-1])
                row["dev_accuracy_by_epoch"].append(history["dev_accuracy"])
                row["train_loss_by_epoch"].append(history["train_loss"])
                row["minutes"].append((time.time() - run_start) / 60)
                print(f"{model_name} {task} seed {seed}: dev by epoch {[round(a, 4) for a in history['dev_accuracy']]}, "
                      f"test {history['test_accuracy']:.4f} ({(time.time() - start) / 60:.1f} min)", flush=True)
                run = {
                    "command": "python " + " ".join(["examples/dan/run.py"] + sys.argv[1:]),
                    "tasks": args.tasks,
                    "models": args.models,
                    "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    "wall_time_minutes": (time.time() - start) / 60,
                    "cpu_time_minutes": (time.process_time() - cpu_start) / 60,
                    "machine": describe(),
                }
                update(args.output, run, rows, settings)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
