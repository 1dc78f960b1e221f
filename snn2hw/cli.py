"""The `snn2hw` command line: a thin typer adapter over snn2hw.pipeline (and exporters/profilers)."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from snn2hw.errors import Snn2hwError

app = typer.Typer(
    name="snn2hw",
    help="From a trained ANN to a spiking network on (simulated) Loihi: distill, export, profile.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from snn2hw import __version__

        typer.echo(f"snn2hw {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the snn2hw version and exit."),
) -> None:
    """From a trained ANN to a spiking network on (simulated) Loihi: distill, export, profile."""


def user_errors(fn: Callable) -> Callable:
    """The one place where failures become messages: a user error (Snn2hwError, or any OSError:
    a full disk, a read-only folder, a missing permission, an unreadable file) prints one
    paragraph on stderr and exits with code 2; anything else is a bug in snn2hw, printed as one paragraph naming the code
    location (exit code 1; SNN2HW_DEBUG=1 shows the full traceback). Never a deep traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from typer.exceptions import TyperException

        try:
            return fn(*args, **kwargs)
        except Snn2hwError as e:
            typer.echo(f"Error: {_one_paragraph(str(e))}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted. The last finished epoch is checkpointed; continue with "
                       "`snn2hw distill --resume RUN_DIR`.", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except OSError as e:  # the disk, a permission or a path: the user's environment
            from snn2hw.fileio import os_error

            if os.environ.get("SNN2HW_DEBUG"):
                raise
            typer.echo(f"Error: {_one_paragraph(str(os_error(e)))}", err=True)
            raise typer.Exit(2) from None
        except Exception as e:  # a bug: one paragraph, no traceback (unless debugging)
            if os.environ.get("SNN2HW_DEBUG"):
                raise
            typer.echo(f"Error: {internal_error(e)}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def _one_paragraph(text: str) -> str:
    return " ".join(text.split())


def internal_error(e: BaseException) -> str:
    """One paragraph for an unexpected exception: type, message and the innermost snn2hw frame."""
    import traceback

    tb = traceback.extract_tb(e.__traceback__)
    ours = [f for f in tb if any(f"/{pkg}/" in f.filename for pkg in ("snn2hw", "exporters", "profilers"))]

    def loc(f: traceback.FrameSummary) -> str:
        return f"{'/'.join(Path(f.filename).parts[-2:])}:{f.lineno}"

    where = f" at {loc(tb[-1])}" if tb else ""
    if ours and tb and ours[-1] is not tb[-1]:
        where += f" (called from {loc(ours[-1])})"
    msg = _one_paragraph(str(e))[:300] or "no detail"
    return (f"internal error{where} ({type(e).__name__}: {msg}). This is a bug in snn2hw, not in "
            "your input; please report it with the command you ran (run it again with "
            "SNN2HW_DEBUG=1 for the full traceback).")


# Options shared by distill and teacher (None = not given, the config file/defaults decide).
ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file (see examples/); CLI options override it.")
SetOpt = typer.Option(None, "--set", help="Override any config key, e.g. --set train.lr=0.01 (repeatable).")
NameOpt = typer.Option(None, "--name", help="Run folder name under --runs-dir (default: <dataset>-<method>-<YYYYmmdd-HHMMSS>).")
TeacherNameOpt = typer.Option(None, "--name", help="Run folder name under --runs-dir (default: <dataset>-teacher-<YYYYmmdd-HHMMSS>).")
RunsDirOpt = typer.Option(None, "--runs-dir", help="Folder that holds run folders (default: runs).")
DatasetOpt = typer.Option(None, "--dataset", help="digits (embedded, default), cifar10, cifar100; event data: nmnist, dvs-gesture, cifar10-dvs.")
DataRootOpt = typer.Option(None, "--data-root", help="Folder with downloaded datasets (default: data).")
DownloadOpt = typer.Option(None, "--download/--no-download", help="Let torchvision download a missing dataset (needs network).")
BatchOpt = typer.Option(None, "--batch-size", help="Training batch size (default: 64).")
SeedOpt = typer.Option(None, "--seed", help="Random seed for init, shuffling and subsets (default: 0).")
DeviceOpt = typer.Option(None, "--device", help="auto (CUDA if present), cpu, cuda, cuda:N.")
TeacherArchOpt = typer.Option(None, "--teacher-arch", help="ANN teacher: digits-cnn, digits-resnet, resnet18, resnet34, resnet19, wrn28-4, vgg16, event-cnn, vgg-ann, vgg-ann-gap (pooled head, for ckdsnn on event data), or one of the papers' networks (resnet32x4, wrn40-2, vgg13, pyramidnet18/20, preresnet20, resnet19-tet, resnet19-ckdsnn; docs/recipes.md) (default: the dataset's; digits-cnn for static data).")
TimestepsOpt = typer.Option(None, "--timesteps", "-T", help="Time steps per sample = frames per event sample (default: 4; nmnist 8, cifar10-dvs 10, dvs-gesture 16).")
FrameSizeOpt = typer.Option(None, "--frame-size", help="Event data: frame height = width in pixels, events downsampled (default: dvs-gesture 128, cifar10-dvs 48, nmnist 34).")
DenoiseOpt = typer.Option(None, "--denoise-us", help="Event data: drop isolated events with tonic's Denoise, filter time in microseconds (e.g. 10000; default: off).")
AugmentOpt = typer.Option(None, "--augment", help="Event data, train split: none (default), roll (random shift), flip-roll (TET: h-flip + shift; not for dvs-gesture).")
SplitOpt = typer.Option(None, "--split", help="cifar10-dvs: train:test ratio of the seeded per-class split, 9:1 (default) or 7:3.")
SplitSeedOpt = typer.Option(None, "--split-seed", help="cifar10-dvs: seed of the per-class split (default: 0).")
CacheOpt = typer.Option(None, "--cache/--no-cache", help="Event data: keep decoded frames on disk so later epochs and runs skip decoding (default: on).")
CacheDirOpt = typer.Option(None, "--cache-dir", help="Event data: frame cache folder (default: DATA_ROOT/.snn2hw-cache, or ~/.cache/snn2hw/frames if DATA_ROOT is read-only).")
TeacherEpochsOpt = typer.Option(None, "--teacher-epochs", help="Epochs to train the teacher (default: 15).")
ResumeOpt = typer.Option(None, "--resume", help="Continue an interrupted run from its last checkpoint (uses its saved config).")


def _resolve(config, assignments, overrides):
    from snn2hw.config import resolve_config

    return resolve_config(config, overrides, assignments or [])


def _recipe_or_config(recipe, config, assignments, overrides):
    """The run config from a paper recipe (snn2hw.recipes) or from --config, either overridden."""
    if recipe is None:
        return _resolve(config, assignments, overrides)
    from snn2hw.errors import ConfigError
    from snn2hw.recipes import load_recipe, recipe_config

    if config is not None:
        raise ConfigError("--recipe and --config both give a whole configuration; use one "
                          "(override single keys of a recipe with options or --set)")
    return recipe_config(load_recipe(recipe), assignments or [], overrides)


def _check_resume(resume, overrides: dict) -> None:
    given = [k for k, v in overrides.items() if v is not None and k != "train.device"]
    if resume is not None and given:
        from snn2hw.config import CLI_FLAGS
        from snn2hw.errors import ConfigError

        flags = ", ".join(CLI_FLAGS.get(k, k) for k in given)
        raise ConfigError(
            f"--resume continues a run with the config saved in it; drop {flags} (or start a "
            "new run without --resume)"
        )


def _event_overrides(frame_size, denoise_us, augment, split, split_seed, cache, cache_dir) -> dict:
    """The event-data options as config keys (None = not given)."""
    return {
        "data.frame_size": frame_size, "data.denoise_us": denoise_us, "data.augment": augment,
        "data.split": split, "data.split_seed": split_seed, "data.cache": cache,
        "data.cache_dir": cache_dir,
    }


def _table(title: str, rows: list[tuple[str, str]], saved: str | None = None) -> None:
    """A two-column result table; the run folder goes on its own unwrapped line (copy-pasteable)."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_header=False)
    for k, v in rows:
        t.add_row(k, v)
    console = Console()
    console.print(t)
    if saved:
        console.print(f"saved in {saved}", soft_wrap=True, highlight=False)


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


@app.command()
@user_errors
def distill(
    config: Optional[Path] = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    name: Optional[str] = NameOpt,
    runs_dir: Optional[str] = RunsDirOpt,
    dataset: Optional[str] = DatasetOpt,
    data_root: Optional[str] = DataRootOpt,
    download: Optional[bool] = DownloadOpt,
    batch_size: Optional[int] = BatchOpt,
    teacher: Optional[str] = typer.Option(None, "--teacher", help="Teacher checkpoint (teacher.pt) to use instead of training one."),
    teacher_weights: Optional[str] = typer.Option(None, "--teacher-weights", help="Teacher state dict file (ours, torchvision-style, or a paper's reference code) for --teacher-arch, used instead of training one."),
    recipe: Optional[str] = typer.Option(None, "--recipe", help="Start from a paper recipe (see `snn2hw recipes`); other options and --set override it."),
    teacher_arch: Optional[str] = TeacherArchOpt,
    teacher_epochs: Optional[int] = TeacherEpochsOpt,
    student_arch: Optional[str] = typer.Option(None, "--student-arch", help="Spiking student: digits-snn, digits-resnet, vgg11, vgg16, resnet18, resnet19, wrn16-2, nmnist-snn, vggsnn, or one of the papers' networks (resnet14, resnet18-sastc, resnet19-tet, resnet19-ckdsnn, vgg11-sastc, vgg11-kdsnn; docs/recipes.md) (default: the dataset's; digits-snn for static data)."),
    timesteps: Optional[int] = TimestepsOpt,
    frame_size: Optional[int] = FrameSizeOpt,
    denoise_us: Optional[int] = DenoiseOpt,
    augment: Optional[str] = AugmentOpt,
    split: Optional[str] = SplitOpt,
    split_seed: Optional[int] = SplitSeedOpt,
    cache: Optional[bool] = CacheOpt,
    cache_dir: Optional[str] = CacheDirOpt,
    neuron: Optional[str] = typer.Option(None, "--neuron", help="Neuron preset: tet, idsnn, kdsnn (IF), norse (CUBA) (default: the method's paper neuron: kdsnn IF, idsnn its LIF, others tet)."),
    method: Optional[str] = typer.Option(None, "--method", help="Distillation method: kd (default), baseline, kdsnn (response KD from output spikes), kdsnn-feature, sastc, ckdsnn, idsnn."),
    tau: Optional[float] = typer.Option(None, "--tau", help="KD temperature (default: the method's paper value)."),
    kd_weight: Optional[float] = typer.Option(None, "--kd-weight", help="Weight of the response-KD term (default: the method's paper value)."),
    feature_weight: Optional[float] = typer.Option(None, "--feature-weight", help="Weight of the feature term: kdsnn-feature alpha, sastc beta, ckdsnn SAMD."),
    sastc_variant: Optional[str] = typer.Option(None, "--sastc-variant", help="sastc loss: code (projected features, the released code; default) or paper (similarity matrices)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Student training epochs (default: 60)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Student learning rate (default: 3e-3)."),
    seed: Optional[int] = SeedOpt,
    device: Optional[str] = DeviceOpt,
    neuron_backend: Optional[str] = typer.Option(None, "--neuron-backend", help="Neuron implementation: auto (triton on CUDA, else fused, where available), fused, reference, triton."),
    compile_: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="Compile the student's training step with torch.compile (faster steps after a one-time compile of ~15 s on CPU)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="Student training precision: fp32 (default) or bf16 (autocast; neuron state stays fp32)."),
    cuda_graphs: Optional[bool] = typer.Option(None, "--cuda-graphs/--no-cuda-graphs", help="Replay the student's whole training step (forward, backward, optimizer) as one CUDA graph; CUDA only."),
    resume: Optional[Path] = ResumeOpt,
) -> None:
    """Train a spiking student from an ANN teacher with knowledge distillation.

    With no options: the embedded digits set, a small CNN teacher, a Loihi-ready spiking student,
    response KD; the run is saved under runs/<name>/.
    """
    from snn2hw.pipeline import distill as run_distill
    from snn2hw.progress import RichReporter

    overrides = {
        "name": name, "runs_dir": runs_dir, "data.dataset": dataset, "data.data_root": data_root,
        "data.download": download, "data.batch_size": batch_size, "teacher.path": teacher,
        "teacher.weights": teacher_weights,
        "teacher.arch": teacher_arch, "teacher.epochs": teacher_epochs,
        "student.arch": student_arch, "student.timesteps": timesteps, "student.neuron": neuron,
        "distill.method": method, "distill.tau": tau, "distill.weight": kd_weight,
        "distill.feature_weight": feature_weight, "distill.sastc_variant": sastc_variant,
        "train.epochs": epochs, "train.lr": lr, "train.seed": seed,
        "train.device": device, "train.neuron_backend": neuron_backend, "train.compile": compile_,
        "train.precision": precision, "train.cuda_graphs": cuda_graphs,
        **_event_overrides(frame_size, denoise_us, augment, split, split_seed, cache, cache_dir),
    }
    _check_resume(resume, {**overrides, "_config": config, "_set": set_ or None, "--recipe": recipe})
    cfg = _recipe_or_config(recipe, config, set_, overrides)
    s = run_distill(cfg, resume=resume, reporter=RichReporter())
    rows = []
    if s["teacher"]:
        rows.append((f"teacher ({s['teacher']['arch']})", _pct(s["teacher"]["test_acc"])))
    rows += [
        (f"student ({s['student']['arch']}, T={s['student']['timesteps']})", _pct(s["student"]["test_acc"])),
        ("method", s["method"]),
        ("time", f"{s['time_s']:.1f} s on {s['device']}"),
    ]
    _table(f"snn2hw distill: {s['dataset']}", rows, saved=s["run_dir"])


@app.command()
@user_errors
def teacher(
    config: Optional[Path] = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    name: Optional[str] = TeacherNameOpt,
    runs_dir: Optional[str] = RunsDirOpt,
    dataset: Optional[str] = DatasetOpt,
    data_root: Optional[str] = DataRootOpt,
    download: Optional[bool] = DownloadOpt,
    batch_size: Optional[int] = BatchOpt,
    recipe: Optional[str] = typer.Option(None, "--recipe", help="Train the teacher of a paper recipe (see `snn2hw recipes`) with its teacher schedule; other options and --set override it."),
    arch: Optional[str] = typer.Option(None, "--arch", help="ANN teacher: digits-cnn, digits-resnet, resnet18, resnet34, resnet19, wrn28-4, vgg16, event-cnn, vgg-ann (default: the dataset's; digits-cnn for static data)."),
    timesteps: Optional[int] = TimestepsOpt,
    frame_size: Optional[int] = FrameSizeOpt,
    denoise_us: Optional[int] = DenoiseOpt,
    augment: Optional[str] = AugmentOpt,
    split: Optional[str] = SplitOpt,
    split_seed: Optional[int] = SplitSeedOpt,
    cache: Optional[bool] = CacheOpt,
    cache_dir: Optional[str] = CacheDirOpt,
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs (default: 15)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default: 2e-3)."),
    seed: Optional[int] = SeedOpt,
    device: Optional[str] = DeviceOpt,
    resume: Optional[Path] = ResumeOpt,
) -> None:
    """Train an ANN teacher alone; use its teacher.pt later with `snn2hw distill --teacher`."""
    from snn2hw.pipeline import train_teacher
    from snn2hw.progress import RichReporter

    overrides = {
        "name": name, "runs_dir": runs_dir, "data.dataset": dataset, "data.data_root": data_root,
        "data.download": download, "data.batch_size": batch_size, "teacher.arch": arch,
        "teacher.epochs": epochs, "teacher.lr": lr, "train.seed": seed, "train.device": device,
        "student.timesteps": timesteps,
        **_event_overrides(frame_size, denoise_us, augment, split, split_seed, cache, cache_dir),
    }
    _check_resume(resume, {**overrides, "_config": config, "_set": set_ or None, "--recipe": recipe})
    cfg = _recipe_or_config(recipe, config, set_, overrides)
    s = train_teacher(cfg, resume=resume, reporter=RichReporter())
    _table(f"snn2hw teacher: {s['dataset']}", [
        (f"teacher ({s['teacher']['arch']})", _pct(s["teacher"]["test_acc"])),
        ("time", f"{s['time_s']:.1f} s on {s['device']}"),
    ], saved=s["teacher"]["checkpoint"])


@app.command("eval")
@user_errors
def eval_(
    run_dir: Path = typer.Argument(..., help="A run folder written by `snn2hw distill` or `snn2hw teacher`."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Reload a run's checkpoints and measure their test accuracy again."""
    from snn2hw.pipeline import evaluate_run

    r = evaluate_run(run_dir, device=device)
    if json_out:
        typer.echo(json.dumps(r, indent=2))
        return
    rows = [(f"{role} ({r[role]['arch']})", _pct(r[role]["test_acc"]))
            for role in ("teacher", "student") if role in r]
    rows.append(("test samples", str(r["test_samples"])))
    rows.append(("run folder", r["run_dir"]))  # read only: eval writes nothing
    _table(f"snn2hw eval: {r['dataset']}", rows)


@app.command("recipes")
@user_errors
def recipes_(
    paper: Optional[str] = typer.Option(None, "--paper", help="Show only this paper's recipes (KDSNN, SASTC, CKDSNN, IDSNN)."),
    json_out: bool = typer.Option(False, "--json", help="Print the recipes as JSON."),
) -> None:
    """List the papers' recipes with the accuracy each paper reports; run one with
    `snn2hw distill --recipe NAME` or `python benchmarks/reproduce.py --recipe NAME`."""
    from snn2hw.recipes import load_recipes

    rows = [r.summary() for r in load_recipes() if paper is None or r.paper.lower() == paper.lower()]
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="snn2hw recipes (reported = the paper's top-1 test accuracy at the recipe's T)")
    cols = ("name", "source", "dataset", "T", "student", "teacher", "method", "optimizer",
            "schedule", "epochs", "batch", "reported")
    for col in cols:
        t.add_column(col, no_wrap=col in ("name", "reported"), overflow="fold",
                     justify="right" if col == "reported" else "left")
    for r in rows:
        t.add_row(*[("-" if r[k] is None else f"{r[k]:.2f}%" if k == "reported" else str(r[k]))
                    for k in cols])
    Console().print(t)
    typer.echo("Docs with the sources of every number: docs/recipes.md. Run one: "
               "snn2hw distill --recipe NAME")


# Commands contributed by the other top-level packages (each module has register(app)).
for _module in ("exporters.cli", "profilers.cli"):
    import importlib

    importlib.import_module(_module).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
