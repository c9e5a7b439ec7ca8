"""Measure how often ``gan-backends compare --seeds N`` says "differs" when nothing differs.

Trains one backend (``--backend``, default torch) on the GAN from ``--runs`` seeds (0, 1000,
2000, ...: the seeds ``compare --seeds`` uses), one run after another in this process, into
``OUT/seed-S``, then splits random draws of those runs into a reference and impostor backends
(``compare.false_alarm_rate``) and prints the share of comparisons with any "differs"::

    python tools/compare_false_alarms.py --runs 40 --epochs 10 --out /tmp/false-alarms

The impostors' runs come from other seeds than the reference's, where a real comparison pairs
them, so the rate printed bounds the real one from above. Runs already in OUT are reused.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gan_backends import compare, experiments, selection
from gan_backends.experiments import Config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch", help="the backend trained (default torch)")
    parser.add_argument("--runs", type=int, default=40, help="runs from distinct seeds (40)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per run (10)")
    parser.add_argument("--draws", type=int, default=4000, help="comparisons drawn (4000)")
    parser.add_argument("--out", type=Path, required=True, help="folder of the runs")
    args = parser.parse_args()
    selection.set_backend(args.backend)
    summaries = []
    for seed in compare.replicate_seeds(0, args.runs):
        folder = args.out / f"seed-{seed}"
        if (folder / "metrics.json").exists():
            metrics = json.loads((folder / "metrics.json").read_text())
        else:
            metrics = experiments.run(
                Config.for_model("gan", epochs=args.epochs, seed=seed), folder
            )
        summaries.append(compare.run_summaries("gan", metrics))
    print(f"{args.runs} GAN runs on {args.backend}, {args.epochs} epochs, level {compare.ALPHA}:")
    for seeds in (3, 5, 8):
        for backends in (2, 4):
            if seeds * backends <= len(summaries):
                rate = compare.false_alarm_rate(summaries, seeds, backends, args.draws)
                print(f"  --seeds {seeds}, {backends} backends: false-alarm rate {rate:.3f}")


if __name__ == "__main__":
    main()
