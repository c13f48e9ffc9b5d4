"""52 — DFA for a character-level decoder-only Transformer on Tiny Shakespeare (issue 20).

Launay et al. (NeurIPS 2020, "DFA scales", arXiv 2006.12878) and Wang et al. (arXiv 2409.12965)
train Transformers with DFA: one feedback point per block (*macro*) or three (*micro*: after
attention + residual, after the FFN activation, at the block output), one shared random
projection of the output error per step, optionally a ternarised error (what an optical
co-processor takes).  Expected [assumption, from the papers' qualitative claims]: every DFA
variant learns, far below the corpus's unigram entropy of 3.31 nats/char, but behind BP;
ternarisation costs little; macro no worse than micro.

Model: 2 pre-LN blocks, d = 64, 4 heads, context 64 (``snn_dfa.deep.models.CharTransformer``);
Adam lr 1e-3, batch 16 windows, 600 steps, the same number of steps for every method; the first 90 % of
the corpus trains, validation loss (nats/char) on 200 consecutive windows (12,800 characters)
of the last 10 %; 3 seeds.  Methods: ``bp``; ``macro``; ``micro``; ``macro_ternary``
(threshold 0.1, the TinyDFA fork's default).

Usage::

    python examples/52_dfa_transformer.py            # full run (runs resumable in --out)
    python examples/52_dfa_transformer.py --quick    # seconds: 1 seed, 20 steps, tiny model

Writes one JSON per run and ``results.json`` to ``--out`` (default ``runs/52_dfa_transformer``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from snn_dfa.data import encode_characters, load_tiny_shakespeare, unigram_entropy_nats
from snn_dfa.deep import DFA, RandomProjector
from snn_dfa.deep.models import CharTransformer
from snn_dfa.deep.train import cached_run, fit_lm, mean_std, seeded

SEEDS = (0, 1, 2)
METHODS = {  # name: (mode, scheme, ternarise threshold)
    "bp": ("bp", "macro", None),
    "macro": ("dfa", "macro", None),
    "micro": ("dfa", "micro", None),
    "macro_ternary": ("dfa", "macro", 0.1),
}
FULL = {"steps": 600, "eval_every": 150, "d": 64, "layers": 2, "context": 64, "batch": 16}  # CPU budget
QUICK = {"steps": 20, "eval_every": 10, "d": 32, "layers": 1, "context": 32, "batch": 8}
LR = 1e-3  # Adam [assumption: nanoGPT's small-model default; the DFA papers tune per method]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/52_dfa_transformer"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = QUICK if args.quick else FULL
    seeds = SEEDS[:1] if args.quick else SEEDS
    corpus = load_tiny_shakespeare()
    train_np, val_np, alphabet = encode_characters(corpus)
    train, val = torch.as_tensor(train_np), torch.as_tensor(val_np)
    entropy = unigram_entropy_nats(corpus)

    def run(method: str, seed: int) -> dict:
        mode, scheme, tern = METHODS[method]
        dfa = DFA(RandomProjector(shared=True, seed=seed), mode=mode, ternarise=tern)
        with seeded(seed):
            model = CharTransformer(len(alphabet), dfa, d=cfg["d"], heads=4,
                                    layers=cfg["layers"], context=cfg["context"], scheme=scheme)
        res = fit_lm(model, dfa, train, val, steps=cfg["steps"], batch_size=cfg["batch"],
                     context=cfg["context"], lr=LR, eval_every=cfg["eval_every"], seed=seed)
        res.update(method=method, seed=seed, config=cfg)
        return res

    summary: dict = {"unigram_entropy_nats": entropy, "config": cfg}
    for method in METHODS:
        runs = [cached_run(args.out, f"{method}_s{s}", lambda m=method, s=s: run(m, s))
                for s in seeds]
        loss = mean_std([r["val_loss"] for r in runs])
        last = {k: mean_std([r["evals"][-1]["alignment"][k] for r in runs])[0]
                for k in runs[0]["evals"][-1]["alignment"]}
        summary[method] = {"val_loss_nats": loss[0], "val_loss_nats_std": loss[1],
                           "seeds": list(seeds), "step_ms": mean_std([r["step_ms"] for r in runs])[0],
                           "val_loss_by_eval": [mean_std([r["evals"][i]["val_loss"] for r in runs])[0]
                                                for i in range(len(runs[0]["evals"]))],
                           "final_alignment_update_cosine": last}
        print(f"{method:14s} val {loss[0]:.3f} ± {loss[1]:.3f} nats/char (unigram {entropy:.2f})"
              f"  step {summary[method]['step_ms']:.1f} ms"
              + "".join(f"  cos[{k}] {v:+.2f}" for k, v in last.items()))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
