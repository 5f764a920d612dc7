"""The full run of the chapter "A character language model": an LSTM over the characters of the SST sentences.

A short learning-rate comparison on the first part of the training text, then every training
character for several epochs with the best rate; dev bits per character after each epoch, and
samples at several temperatures. Writes examples/char_lm/results.json, which the chapter reads.

    python examples/char_lm/run.py [--epochs 5]
"""

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import describe  # noqa: E402

from edugrad.experiments import set_seed  # noqa: E402
from edugrad.models.char_lm import CharVocabulary, sample, sst_text, train  # noqa: E402
from edugrad.models.lstm_lm import LSTMLanguageModel  # noqa: E402

SETTINGS = {"lowercase": True, "embedding_dim": 32, "hidden_size": 256, "num_layers": 1, "dropout": 0.0,
            "init_range": 0.08, "dtype": "float32", "optimizer": "Adam", "batch_size": 32, "steps": 64,
            "max_norm": 5.0, "pieces_per_epoch": 10, "seed": 0}
SWEEP = {"learning_rates": [2e-3, 5e-3, 1e-2], "train_characters": 150_000, "dev_characters": 20_000}
PROMPT, SAMPLE_LENGTH, TEMPERATURES, SAMPLE_SEED = "the movie ", 300, [0.5, 0.8, 1.0, 1.5], 0


def new_model(vocabulary_size: int) -> LSTMLanguageModel:
    set_seed(SETTINGS["seed"])
    return LSTMLanguageModel(vocabulary_size, SETTINGS["embedding_dim"], SETTINGS["hidden_size"], SETTINGS["num_layers"],
                             SETTINGS["dropout"], SETTINGS["init_range"], SETTINGS["dtype"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()

    start, cpu_start = time.time(), time.process_time()
    train_text, dev_text = sst_text("train", SETTINGS["lowercase"]), sst_text("dev", SETTINGS["lowercase"])
    vocabulary = CharVocabulary(train_text)
    train_tokens, dev_tokens = vocabulary.encode(train_text), vocabulary.encode(dev_text)
    common = {key: SETTINGS[key] for key in ("batch_size", "steps", "max_norm")}

    sweep = []
    for lr in SWEEP["learning_rates"]:
        history = train(new_model(len(vocabulary)), train_tokens[: SWEEP["train_characters"]],
                        dev_tokens[: SWEEP["dev_characters"]], epochs=1, lr=lr, pieces=1, **common)
        sweep.append({"lr": lr, "dev_bits": history["dev_bits"][-1], "seconds": history["epoch_seconds"][-1]})
        print(sweep[-1], f"({(time.time() - start) / 60:.1f} min)", flush=True)
    lr = min(sweep, key=lambda row: row["dev_bits"])["lr"]

    model = new_model(len(vocabulary))
    history = train(model, train_tokens, dev_tokens, epochs=args.epochs, lr=lr,
                    pieces=SETTINGS["pieces_per_epoch"], **common,
                    log=lambda row: print(row, f"({(time.time() - start) / 60:.1f} min)", flush=True))
    samples = {str(temperature): sample(model, vocabulary, PROMPT, SAMPLE_LENGTH, temperature,
                                        generator=np.random.default_rng(SAMPLE_SEED))
               for temperature in TEMPERATURES}
    for temperature, text in samples.items():
        print(f"T={temperature}: {PROMPT}{text!r}")
    results = {
        "command": "python " + " ".join(["examples/char_lm/run.py"] + sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_time_minutes": (time.time() - start) / 60,
        "cpu_minutes": (time.process_time() - cpu_start) / 60,  # the machine is shared: the time on its core
        "machine": describe(),
        "threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
        "settings": {**SETTINGS, "epochs": args.epochs, "lr": lr, "lr_sweep": SWEEP},
        "vocabulary_size": len(vocabulary),
        "train_characters": len(train_tokens),
        "dev_characters": len(dev_tokens),
        "lr_sweep": sweep,
        "history": history,
        "dev_bits": history["dev_bits"][-1],
        "samples": {"prompt": PROMPT, "length": SAMPLE_LENGTH, "seed": SAMPLE_SEED, "by_temperature": samples},
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
