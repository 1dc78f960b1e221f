"""Reproduce one paper recipe and print our accuracy beside the paper's; writes a JSON record.

Runs from a bare Python with torch (and torchvision for CIFAR) installed: it puts the repository
root on sys.path and needs only torch, torchvision, numpy and PyYAML (no uv environment, no
Lava, no Norse). On a GPU machine, from the repository root:

    python3 benchmarks/reproduce.py --recipe sastc-cifar10-vgg11-resnet19 --epochs 5 \\
        --data-root /path/with/cifar-10-batches-py --device cuda

--epochs N shortens the recipe's schedule to N student epochs (multistep milestones are scaled
by N / recipe epochs, cosine follows N); --teacher-epochs likewise for the teacher (default: N
as well), or --teacher-weights FILE uses a trained teacher's state dict instead. --fake runs on
random tensors shaped like the dataset (a dry run of the whole path: its accuracy means nothing).
`python3 benchmarks/reproduce.py --list` prints the recipe names.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from snn2hw.errors import Snn2hwError
from snn2hw.recipes import Recipe, load_recipe, load_recipes, recipe_config


def scaled_milestones(milestones: list[int], epochs: int, full: int) -> list[int]:
    """Milestones of a `full`-epoch schedule moved to the same fractions of `epochs` (kept >= 1,
    strictly increasing, and < epochs where epochs allow)."""
    out: list[int] = []
    for m in milestones:
        v = max(1, round(m * epochs / full))
        if out and v <= out[-1]:
            v = out[-1] + 1
        out.append(v)
    return [m for m in out if m < max(epochs, 2)] or out[:1]


def shortened(recipe: Recipe, epochs: int | None, teacher_epochs: int | None) -> dict:
    """Dotted overrides that shorten the recipe's student and teacher schedules."""
    over: dict = {}
    for section, n in (("train", epochs), ("teacher", teacher_epochs)):
        if n is None:
            continue
        sec = recipe.config.get(section, {})
        full = int(sec.get("epochs", n))
        over[f"{section}.epochs"] = n
        student_sec = recipe.config.get("train", {})
        sched = sec.get("schedule") or (student_sec.get("schedule") if section == "teacher" else None)
        ms = sec.get("milestones") or (student_sec.get("milestones") if section == "teacher" else None)
        if sched == "multistep" and ms:
            over[f"{section}.milestones"] = scaled_milestones(list(ms), n, full)
    return over


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", help="recipe name (python3 benchmarks/reproduce.py --list)")
    ap.add_argument("--list", action="store_true", help="print the recipe names and exit")
    ap.add_argument("--epochs", type=int, help="student epochs (default: the recipe's)")
    ap.add_argument("--teacher-epochs", type=int, help="teacher epochs (default: --epochs, else the recipe's)")
    ap.add_argument("--teacher-weights", help="teacher state dict to use instead of training one")
    ap.add_argument("--timesteps", "-T", type=int, help="time steps (default: the recipe's)")
    ap.add_argument("--batch-size", type=int, help="global batch size (default: the recipe's)")
    ap.add_argument("--data-root", default=os.environ.get("SNN2HW_DATA", "data"))
    ap.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    ap.add_argument("--fake", action="store_true", help="random data shaped like the dataset (dry run)")
    ap.add_argument("--train-subset", type=int, help="train on this many samples only")
    ap.add_argument("--test-subset", type=int, help="test on this many samples only")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--num-workers", type=int, default=4 if os.cpu_count() and os.cpu_count() > 4 else 0)
    ap.add_argument("--runs-dir", default=str(REPO / "runs" / "reproduce"))
    ap.add_argument("--out", help="JSON file (default: benchmarks/results/reproduce_<recipe>.json)")
    ap.add_argument("--set", action="append", default=[], help="override any config key, KEY=VALUE")
    args = ap.parse_args(argv)
    try:
        if args.list:
            for r in load_recipes():
                exp = r.expected()
                print(f"{r.name:48s} {r.paper:7s} {r.table:17s} T={r.timesteps:<3d} "
                      f"{'-' if exp is None else f'{exp:.2f}%'}")
            return 0
        if not args.recipe:
            ap.error("--recipe NAME is required (or --list)")
        return run(args)
    except Snn2hwError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2


def run(args) -> int:
    from snn2hw.pipeline import distill
    from snn2hw.progress import Reporter

    recipe = load_recipe(args.recipe)
    teacher_epochs = args.teacher_epochs if args.teacher_epochs is not None else args.epochs
    dataset = recipe.config["data"]["dataset"]
    overrides = {
        **shortened(recipe, args.epochs, None if args.teacher_weights else teacher_epochs),
        "data.dataset": f"fake-{dataset}" if args.fake else None,
        "data.data_root": args.data_root, "data.download": args.download or None,
        "data.batch_size": args.batch_size, "data.num_workers": args.num_workers,
        "data.train_subset": args.train_subset, "data.test_subset": args.test_subset,
        "student.timesteps": args.timesteps, "teacher.weights": args.teacher_weights,
        "train.device": args.device, "runs_dir": args.runs_dir,
        "name": f"{recipe.name}-{time.strftime('%Y%m%d-%H%M%S')}",
    }
    cfg = recipe_config(recipe, args.set, overrides)
    print(f"recipe {recipe.name}: {recipe.paper} {recipe.table}, {recipe.row}", flush=True)
    print(f"  {cfg.student.arch} (T={cfg.student.timesteps}) <- {cfg.teacher.arch}, method "
          f"{cfg.distill.method}, {cfg.train.epochs} of {recipe.config['train']['epochs']} epochs, "
          f"batch {cfg.data.batch_size}", flush=True)

    class Lines(Reporter):  # one line per epoch, readable in a log
        def epoch(self, m: dict) -> None:
            print(f"  {m['phase']} epoch {m['epoch']}/{m['epochs']}: loss {m['train_loss']:.3f} "
                  f"train {100 * m['train_acc']:.2f}% test {100 * m['test_acc']:.2f}% "
                  f"({m['time_s']:.1f} s)", flush=True)

    t0 = time.perf_counter()
    summary = distill(cfg, reporter=Lines())
    expected = recipe.expected(cfg.student.timesteps)
    ours = summary["student"]["test_acc"]
    record = {
        "recipe": recipe.name, "paper": recipe.paper, "table": recipe.table, "row": recipe.row,
        "dataset": summary["dataset"], "fake_data": bool(args.fake),
        "timesteps": cfg.student.timesteps, "student": cfg.student.arch, "teacher": cfg.teacher.arch,
        "method": cfg.distill.method, "epochs": cfg.train.epochs,
        "recipe_epochs": recipe.config["train"]["epochs"],
        "teacher_epochs": None if args.teacher_weights else cfg.teacher.epochs,
        "teacher_source": (summary.get("teacher") or {}).get("source"),
        "paper_student_acc": expected, "paper_teacher_acc": recipe.reported.get("teacher"),
        "ours_student_acc": None if ours is None else round(100 * ours, 2),
        "ours_teacher_acc": None if not summary.get("teacher") or summary["teacher"].get("test_acc") is None
        else round(100 * summary["teacher"]["test_acc"], 2),
        "device": summary["device"], "time_s": round(time.perf_counter() - t0, 1),
        "run_dir": summary["run_dir"], "config": cfg.to_dict(),
    }
    fmt = lambda v: "-" if v is None else f"{v:.2f}%"
    print(f"\n{'':14s}{'paper':>10s}{'ours':>10s}")
    print(f"{'student':14s}{fmt(expected):>10s}{fmt(record['ours_student_acc']):>10s}"
          f"   ({cfg.train.epochs}/{record['recipe_epochs']} epochs"
          f"{', FAKE DATA' if args.fake else ''})")
    print(f"{'teacher':14s}{fmt(record['paper_teacher_acc']):>10s}{fmt(record['ours_teacher_acc']):>10s}")
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results" / f"reproduce_{recipe.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(out)
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
