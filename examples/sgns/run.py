"""Skip-gram with negative sampling on Brown: edugrad against gensim, same corpus and settings.

Writes examples/sgns/results.json, which the chapter on word vectors reads.
Needs gensim (pip install gensim). Both are timed in the same process, one
after the other, by the wall clock and by the CPU time of the process
(time.process_time, which the other programs of a shared machine do not
inflate as much). Then the course's homework setting (SST's training
sentences, dimension 15, 15 negatives, window 2) is timed for one epoch.

    python examples/sgns/run.py [--epochs 5] [--batch-size 512]
"""

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import describe  # noqa: E402

from edugrad.experiments import set_seed  # noqa: E402
from edugrad.models.sgns import (  # noqa: E402
    GENSIM_SETTINGS, HOMEWORK_SETTINGS, SkipGram, load_corpus, similarity_correlations, train, word_vectors,
)


class Clock:
    """Wall and CPU seconds of a block: ``with Clock() as clock: ...``, then clock.wall, clock.cpu."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def train_edugrad(corpus: dict, settings: dict, epochs: int, batch_size: int) -> tuple:
    set_seed(0)
    model = SkipGram(len(corpus["vocabulary"]), settings["vector_size"])
    with Clock() as clock:
        losses = train(model, corpus, epochs=epochs, lr=settings["alpha"], batch_size=batch_size,
                       negatives=settings["negative"], window=settings["window"], sample=settings["sample"])
    return model, losses, clock


def train_gensim(corpus: dict, settings: dict, epochs: int) -> tuple:
    from gensim.models import Word2Vec

    sentences = [[corpus["vocabulary"].token(i) for i in sentence] for sentence in corpus["sentences"]]
    gensim_settings = {key: value for key, value in settings.items() if key != "alpha"}
    with Clock() as vocabulary_clock:
        reference = Word2Vec(seed=0, alpha=settings["alpha"], **{**gensim_settings, "epochs": epochs})
        reference.build_vocab(sentences)
    with Clock() as clock:
        reference.train(sentences, total_examples=reference.corpus_count, epochs=epochs)
    return reference, clock, vocabulary_clock


def scores(correlations: dict) -> dict:
    return {**{name: rho for name, (rho, _, _) in correlations.items()},
            "pairs_used": {name: used for name, (_, used, _) in correlations.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=GENSIM_SETTINGS["epochs"])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()
    start = time.time()

    corpus = load_corpus("brown", min_count=GENSIM_SETTINGS["min_count"])
    rows = []
    model, losses, clock = train_edugrad(corpus, GENSIM_SETTINGS, args.epochs, args.batch_size)
    rows.append({"implementation": "edugrad", "seconds": clock.wall, "cpu_seconds": clock.cpu, "losses": losses,
                 **scores(similarity_correlations(word_vectors(model, corpus["vocabulary"])))})
    print(rows[-1], flush=True)

    reference, clock, vocabulary_clock = train_gensim(corpus, GENSIM_SETTINGS, args.epochs)
    vectors = {word: reference.wv[word] / np.linalg.norm(reference.wv[word]) for word in reference.wv.index_to_key}
    rows.append({"implementation": "gensim", "seconds": clock.wall, "cpu_seconds": clock.cpu,
                 "vocabulary_seconds": vocabulary_clock.wall, **scores(similarity_correlations(vectors))})
    print(rows[-1], flush=True)

    # The homework setting: one epoch of each, timed.
    sst = load_corpus("sst", min_count=HOMEWORK_SETTINGS["min_count"])
    _, homework_losses, homework_clock = train_edugrad(sst, HOMEWORK_SETTINGS, 1, args.batch_size)
    _, gensim_homework_clock, _ = train_gensim(sst, HOMEWORK_SETTINGS, 1)
    homework = {
        "settings": {**HOMEWORK_SETTINGS, "epochs": 1, "corpus": "SST training sentences, lowercased",
                     "edugrad batch size": args.batch_size},
        "vocabulary": len(sst["vocabulary"]),
        "words": int(sum(len(sentence) for sentence in sst["sentences"])),
        "rows": [{"implementation": "edugrad", "seconds_per_epoch": homework_clock.wall,
                  "cpu_seconds_per_epoch": homework_clock.cpu, "loss": homework_losses[0]},
                 {"implementation": "gensim", "seconds_per_epoch": gensim_homework_clock.wall,
                  "cpu_seconds_per_epoch": gensim_homework_clock.cpu}],
    }
    print(homework, flush=True)

    results = {
        "command": "python " + " ".join(["examples/sgns/run.py"] + sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_time_minutes": (time.time() - start) / 60,
        "machine": describe(),
        "settings": {**GENSIM_SETTINGS, "epochs": args.epochs, "corpus": "Brown, lowercased, all 57,340 sentences",
                     "edugrad batch size": args.batch_size},
        "timing": "seconds: wall time of training (gensim's vocabulary scan, vocabulary_seconds, apart); "
                  "cpu_seconds: time.process_time over the same span; both run one after the other in one process",
        "rows": rows,
        "homework": homework,
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
