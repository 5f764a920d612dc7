"""Skip-gram with negative sampling on Brown: edugrad against gensim, same corpus and settings.

Writes examples/sgns/results.json, which the chapter on word vectors reads.
Needs gensim (pip install gensim).

    python examples/sgns/run.py [--epochs 5]
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
from edugrad.models.sgns import GENSIM_SETTINGS, SkipGram, load_corpus, similarity_correlations, train, word_vectors  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=GENSIM_SETTINGS["epochs"])
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()
    from gensim.models import Word2Vec

    corpus = load_corpus("brown", min_count=GENSIM_SETTINGS["min_count"])
    rows = []

    set_seed(0)
    model = SkipGram(len(corpus["vocabulary"]), GENSIM_SETTINGS["vector_size"])
    start = time.time()
    losses = train(model, corpus, epochs=args.epochs, lr=GENSIM_SETTINGS["alpha"], negatives=GENSIM_SETTINGS["negative"],
                   window=GENSIM_SETTINGS["window"], sample=GENSIM_SETTINGS["sample"])
    seconds = time.time() - start
    correlations = similarity_correlations(word_vectors(model, corpus["vocabulary"]))
    rows.append({"implementation": "edugrad", "seconds": seconds, "losses": losses,
                 **{name: rho for name, (rho, _, _) in correlations.items()},
                 "pairs_used": {name: used for name, (_, used, _) in correlations.items()}})
    print(rows[-1], flush=True)

    sentences = [[corpus["vocabulary"].token(i) for i in sentence] for sentence in corpus["sentences"]]
    start = time.time()
    reference = Word2Vec(sentences, seed=0, **{**GENSIM_SETTINGS, "epochs": args.epochs})
    seconds = time.time() - start
    vectors = {word: reference.wv[word] / np.linalg.norm(reference.wv[word]) for word in reference.wv.index_to_key}
    correlations = similarity_correlations(vectors)
    rows.append({"implementation": "gensim", "seconds": seconds, **{name: rho for name, (rho, _, _) in correlations.items()},
                 "pairs_used": {name: used for name, (_, used, _) in correlations.items()}})
    print(rows[-1], flush=True)

    results = {
        "command": "python " + " ".join(["examples/sgns/run.py"] + sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": describe(),
        "settings": {**GENSIM_SETTINGS, "epochs": args.epochs, "corpus": "Brown, lowercased, all 57,340 sentences",
                     "edugrad batch size": 512},
        "rows": rows,
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
