"""The full run of the chapter "An LSTM language model": Zaremba et al.'s small LSTM on the Penn Treebank.

Writes examples/word_lm/results.json, which the chapter reads.

    python examples/word_lm/run.py [--epochs 13]
"""

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import describe  # noqa: E402

from edugrad.experiments import set_seed  # noqa: E402
from edugrad.nn import save_arrays  # noqa: E402
from edugrad.models.lstm_lm import LSTMLanguageModel, perplexity_without_carried_state, train  # noqa: E402
from edugrad.models.nplm import load_corpus  # noqa: E402

SETTINGS = {"embedding_dim": 200, "hidden_size": 200, "num_layers": 2, "dropout": 0.0, "init_range": 0.1,
            "dtype": "float32", "lr": 1.0, "decay": 0.5, "decay_after": 4, "batch_size": 20, "steps": 20,
            "max_norm": 5.0, "seed": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=13)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    parser.add_argument("--save", type=Path, help="also save the trained weights to this .npz file (not committed: 19 MB)")
    args = parser.parse_args()

    start = time.time()
    corpus = load_corpus("ptb")
    set_seed(SETTINGS["seed"])
    model = LSTMLanguageModel(len(corpus["vocabulary"]), SETTINGS["embedding_dim"], SETTINGS["hidden_size"],
                              SETTINGS["num_layers"], SETTINGS["dropout"], SETTINGS["init_range"], SETTINGS["dtype"])
    history = train(model, corpus, epochs=args.epochs, lr=SETTINGS["lr"], decay=SETTINGS["decay"],
                    decay_after=SETTINGS["decay_after"], batch_size=SETTINGS["batch_size"], steps=SETTINGS["steps"],
                    max_norm=SETTINGS["max_norm"],
                    log=lambda row: print(row, f"({(time.time() - start) / 60:.1f} min)", flush=True))
    reset_test = perplexity_without_carried_state(model, corpus["test"])
    if args.save:
        save_arrays(args.save, model.state_dict())
    results = {
        "command": "python " + " ".join(["examples/word_lm/run.py"] + sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_time_minutes": (time.time() - start) / 60,
        "machine": describe(),
        "threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
        "settings": {**SETTINGS, "epochs": args.epochs},
        "vocabulary_size": len(corpus["vocabulary"]),
        "history": history,
        "test_perplexity": history["test_perplexity"],
        "test_perplexity_state_reset_every_35_words": reset_test,
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
