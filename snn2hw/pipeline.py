"""The jobs behind the CLI: train a teacher, distill a student, evaluate a run."""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from snn2hw import distributed
from snn2hw.config import (
    RunConfig,
    config_from_dict,
    load_yaml,
    teacher_train_config,
    with_dataset_defaults,
)
from snn2hw.data import DatasetBundle, EventOptions, load_dataset
from snn2hw.distill import FeatureShapes, StepOutputs, build_method
from snn2hw.distill.taps import TeacherTaps, classifier_weight
from snn2hw.errors import CheckpointError, ConfigError, Snn2hwError
from snn2hw.fileio import ensure_dir, remove_stale_temp_files
from snn2hw.models import ModelSpec, build_model
from snn2hw.models.weights import load_teacher_weights
from snn2hw.neurons import PRESETS, NeuronSpec, set_backend
from snn2hw.progress import Reporter
from snn2hw.runs import (
    CONFIG_FILE,
    METRICS_FILE,
    TEACHER_CKPT,
    RunDir,
    atomic_write_text,
    load_checkpoint,
    load_state,
    new_run_name,
    open_run,
    save_checkpoint,
)
from snn2hw.train import Phase, eval_loader, evaluate, fit, resolve_device
from snn2hw.train_step import check_step_options


def neuron_spec(cfg: RunConfig) -> NeuronSpec:
    """The student's neuron: a preset with single fields overridden."""
    name = cfg.student.neuron
    if name not in PRESETS:
        raise ConfigError(
            f"unknown neuron preset {name!r}; choose one of {', '.join(PRESETS)} (option --neuron)"
        )
    fields = {f.name for f in dataclasses.fields(NeuronSpec)}
    bad = sorted(map(str, set(cfg.student.neuron_params) - fields))
    if bad:
        raise ConfigError(
            f"unknown neuron parameter {bad[0]!r} in student.neuron_params; valid: {', '.join(sorted(fields))}"
        )
    import typing

    from snn2hw.config import _coerce

    hints = typing.get_type_hints(NeuronSpec)
    params = {k: _coerce(f"student.neuron_params.{k}", hints[k], v)
              for k, v in cfg.student.neuron_params.items()}
    spec = dataclasses.replace(PRESETS[name], **params)
    from snn2hw.neurons.surrogates import SURROGATE_GRADS

    if spec.surrogate not in SURROGATE_GRADS:
        raise ConfigError(
            f"unknown surrogate {spec.surrogate!r}; choose one of {', '.join(SURROGATE_GRADS)}"
        )
    return spec


def event_options(cfg: RunConfig) -> EventOptions:
    """Frame, augmentation, split and cache settings of the config; T follows student.timesteps."""
    cfg = with_dataset_defaults(cfg)
    d = cfg.data
    return EventOptions(
        time_bins=cfg.student.timesteps, frame_size=d.frame_size, denoise_us=d.denoise_us,
        augment=d.augment, max_shift=d.max_shift, split=d.split, split_seed=d.split_seed,
        cache=d.cache, cache_dir=d.cache_dir,
    )


def load_data(cfg: RunConfig) -> DatasetBundle:
    bundle = load_dataset(cfg.data.dataset, cfg.data.data_root, cfg.data.download, event_options(cfg))
    return bundle.limited(cfg.data.train_subset, cfg.data.test_subset, cfg.train.seed)


def load_model(path: str | Path, role: str, bundle: DatasetBundle | None = None) -> tuple[nn.Module, ModelSpec, dict]:
    """Rebuild a model from a checkpoint; check its role and that it fits the dataset."""
    ck = load_checkpoint(path)
    try:
        spec = ModelSpec.from_dict(ck["model"])
    except CheckpointError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None
    if spec.role != role:
        raise CheckpointError(f"{path} holds a {spec.role}, but a {role} is needed here")
    if bundle is not None and (tuple(spec.in_shape) != tuple(bundle.in_shape)
                               or spec.num_classes != bundle.num_classes):
        raise CheckpointError(
            f"the {role} in {path} was built for inputs {tuple(spec.in_shape)} and "
            f"{spec.num_classes} classes, but dataset {bundle.name} has inputs "
            f"{tuple(bundle.in_shape)} and {bundle.num_classes} classes; use a {role} trained on "
            f"{bundle.name}"
        )
    try:
        model = build_model(spec)
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path} names a model snn2hw cannot build: {e}") from None
    except Exception as e:  # noqa: BLE001 - an edited model record can break any builder
        raise CheckpointError(
            f"checkpoint {path}: its model record ({spec.arch}, inputs {tuple(spec.in_shape)}, "
            f"{spec.num_classes} classes) cannot be built ({type(e).__name__}: {e}); the file was "
            "edited or is damaged; re-create it"
        ) from None
    load_state(model, ck["state_dict"], Path(path), f"{spec.role} ({spec.arch})")
    return model, spec, ck


def _run_config(cfg: RunConfig, resume: str | Path | None) -> RunConfig:
    """The config a run uses: the given one, or with resume the one saved in the run; validated."""
    if resume is not None:
        cfg = config_from_dict(load_yaml(open_run(resume).config_path, "the run's config file",
                                         f"saved in the run folder {resume}"))
    return with_dataset_defaults(cfg)


def _start_run(cfg: RunConfig, prefix: str, resume: str | Path | None) -> tuple[RunConfig, RunDir]:
    """Create (or reopen, with resume) the run folder; under torchrun rank 0 creates it.

    Called only after the config, device, data and method are checked, so a run that cannot
    start leaves no folder behind.
    """
    info = distributed.init_from_env(cfg.train.device)
    if cfg.data.batch_size % info.world:
        raise ConfigError(
            f"data.batch_size {cfg.data.batch_size} is the global batch and must divide evenly over "
            f"{info.world} processes; change --batch-size or --nproc-per-node"
        )
    if info.active and resume is None:
        name = cfg.name or new_run_name(prefix, cfg.runs_dir)
        cfg = dataclasses.replace(cfg, name=distributed.broadcast_object(name))
        error = None
        if info.is_main:
            try:
                _create_run(cfg, prefix)
            except Snn2hwError as e:
                error = str(e)
        error = distributed.broadcast_object(error)
        if error:
            raise ConfigError(error)
        return cfg, open_run(Path(cfg.runs_dir) / cfg.name)
    if resume is not None:
        run = open_run(resume)
        if info.is_main:
            remove_stale_temp_files(run.path)
        return cfg, run
    return _create_run(cfg, prefix)


# Runs created by the current distill/teacher call, with the teacher file it was given (if any);
# a call that fails before its first checkpoint removes its run again (see discard_failed_run).
_created: list[tuple[RunDir, str | None]] = []


def _create_run(cfg: RunConfig, prefix: str) -> tuple[RunConfig, RunDir]:
    name = cfg.name or new_run_name(prefix, cfg.runs_dir)
    ensure_dir(cfg.runs_dir, what="runs folder", option="--runs-dir")
    run = RunDir(Path(cfg.runs_dir) / name)
    if run.path.exists() and not run.path.is_dir():
        raise ConfigError(f"{run.path} is a file; choose another --name or --runs-dir")
    if run.config_path.exists():
        raise ConfigError(
            f"run directory {run.path} already exists; choose another --name, or continue it with "
            f"--resume {run.path}"
        )
    fresh = not run.path.exists()
    ensure_dir(run.path, what="run folder", option="--runs-dir")
    cfg = dataclasses.replace(cfg, name=name)
    if fresh:
        _created.append((run, cfg.teacher.path))
    atomic_write_text(run.config_path, cfg.to_yaml(), what="run config")
    return cfg, run


def discard_failed_run(fn):
    """Decorator: if `fn` fails (an error, not Ctrl-C) before the run it created wrote a trained
    checkpoint, remove that run folder, so the corrected command can use the same --name and no
    --resume replays a config that could not run."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        mark = len(_created)
        try:
            return fn(*args, **kwargs)
        except Exception:
            if distributed.current().is_main:
                for run, given_teacher in _created[mark:]:
                    _remove_if_untrained(run, given_teacher)
            raise
        finally:
            del _created[mark:]

    return wrapper


def _remove_if_untrained(run: RunDir, given_teacher: str | None) -> None:
    """Delete a run folder holding only what a start writes (config, metrics, a copied teacher)."""
    import shutil

    trained = run.student_ckpt.exists() or (run.teacher_ckpt.exists() and not given_teacher)
    expected = {CONFIG_FILE, METRICS_FILE, TEACHER_CKPT}
    others = [p for p in run.path.iterdir() if p.name not in expected and not p.name.endswith(".tmp")] \
        if run.path.is_dir() else []
    if not trained and not others:
        shutil.rmtree(run.path, ignore_errors=True)


def _teacher_phase(cfg: RunConfig, bundle: DatasetBundle, run: RunDir, device, reporter) -> tuple[nn.Module, dict]:
    """Load the teacher given with --teacher (copied into the run) or train one (resumable)."""
    if cfg.teacher.path:
        teacher, spec, ck = load_model(cfg.teacher.path, "teacher", bundle)
        if distributed.current().is_main and not run.teacher_ckpt.exists():
            save_checkpoint(run.teacher_ckpt, {**ck, "source": str(cfg.teacher.path)})
        teacher.to(device)
        acc = evaluate(teacher, eval_loader(bundle.test, cfg.data.batch_size), device)
        return teacher, {"arch": spec.arch, "test_acc": acc,
                         "source": str(cfg.teacher.path)}
    torch.manual_seed(cfg.train.seed)
    spec = ModelSpec("teacher", cfg.teacher.arch, bundle.in_shape, bundle.num_classes)
    teacher = build_model(spec)
    if cfg.teacher.weights:  # a given state dict: used as is, saved into the run like a trained one
        load_teacher_weights(teacher, spec.arch, cfg.teacher.weights)
        if distributed.current().is_main and not run.teacher_ckpt.exists():
            save_checkpoint(run.teacher_ckpt, {
                "model": spec.to_dict(), "state_dict": teacher.state_dict(), "complete": True,
                "epoch": 0, "metrics": {}, "source": str(cfg.teacher.weights)})
        teacher.to(device)
        acc = evaluate(teacher, eval_loader(bundle.test, cfg.data.batch_size), device)
        return teacher, {"arch": spec.arch, "test_acc": acc, "source": str(cfg.teacher.weights)}

    def step(net, x, y):
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        return {"loss": loss}, logits

    last = fit(
        Phase("teacher", teacher, spec, step, cfg.teacher.epochs, cfg.teacher.lr), bundle.train,
        bundle.test, batch_size=cfg.data.batch_size, num_workers=cfg.data.num_workers,
        cfg=teacher_train_config(cfg), seed=cfg.train.seed, run=run, ckpt_path=run.teacher_ckpt,
        device=device, reporter=reporter,
    )
    return teacher, {"arch": spec.arch, "test_acc": last.get("test_acc"), "source": "trained"}


@discard_failed_run
def train_teacher(cfg: RunConfig, *, resume: str | Path | None = None,
                  reporter: Reporter | None = None) -> dict[str, Any]:
    """Train an ANN teacher alone into <runs_dir>/<name>/teacher.pt."""
    cfg = _run_config(cfg, resume)
    distributed.init_from_env(cfg.train.device)
    device = resolve_device(cfg.train.device)
    bundle = load_data(cfg)
    build_model(ModelSpec("teacher", cfg.teacher.arch, bundle.in_shape, bundle.num_classes))
    cfg, run = _start_run(cfg, f"{cfg.data.dataset}-teacher", resume)  # only now: all checked
    reporter = reporter if reporter is not None and distributed.current().is_main else Reporter()
    t0 = time.perf_counter()
    _, info = _teacher_phase(dataclasses.replace(cfg, teacher=dataclasses.replace(cfg.teacher, path=None)),
                             bundle, run, device, reporter)
    summary = {"run_dir": str(run.path), "dataset": bundle.name,
               "teacher": {"arch": cfg.teacher.arch, **info, "checkpoint": str(run.teacher_ckpt)},
               "time_s": time.perf_counter() - t0, "device": str(device)}
    if distributed.current().is_main:
        run.write_summary(summary)
    return summary


def _preflight(cfg: RunConfig, method, student: nn.Module, bundle: DatasetBundle) -> None:
    """Check the method suits the student and teacher architectures and bind its feature parts.

    Uses an untrained teacher of the configured architecture (or the given checkpoint), so that
    a wrong architecture or class count is reported before any training.
    """
    if cfg.teacher.path:
        teacher, tspec, _ = load_model(cfg.teacher.path, "teacher", bundle)
    else:
        tspec = ModelSpec("teacher", cfg.teacher.arch, bundle.in_shape, bundle.num_classes)
        teacher = build_model(tspec)
        if cfg.teacher.weights:
            load_teacher_weights(teacher, tspec.arch, cfg.teacher.weights)
    teacher.eval()
    method.check_models(student, teacher)
    if method.needs_features:
        taps = TeacherTaps(teacher, tspec.arch)
        try:
            local_batch = cfg.data.batch_size // max(distributed.current().world, 1)
            method.bind(probe_shapes(student, teacher, taps, bundle, torch.device("cpu"),
                                     batch_size=local_batch))
        finally:
            taps.close()


@discard_failed_run
def distill(cfg: RunConfig, *, resume: str | Path | None = None,
            reporter: Reporter | None = None) -> dict[str, Any]:
    """Teacher (trained or loaded) -> spiking student trained with the configured method."""
    cfg = _run_config(cfg, resume)
    distributed.init_from_env(cfg.train.device)
    # --cuda-graphs/--precision that cannot run here fail before a run folder is made
    check_step_options(resolve_device(cfg.train.device), precision=cfg.train.precision,
                       cuda_graphs=cfg.train.cuda_graphs, distributed=distributed.current().active,
                       neuron_backend=cfg.train.neuron_backend)
    device = resolve_device(cfg.train.device)
    bundle = load_data(cfg)
    method = build_method(cfg.distill)
    nspec = neuron_spec(cfg)
    # The student is built (and checked) before any training, so a bad option fails at once.
    torch.manual_seed(cfg.train.seed + 1)
    sspec = ModelSpec("student", cfg.student.arch, bundle.in_shape, bundle.num_classes,
                      cfg.student.timesteps, nspec)
    student = build_model(sspec)
    try:
        set_backend(student, cfg.train.neuron_backend)
    except ValueError as e:
        raise ConfigError(f"{e} (option --neuron-backend)") from None
    if method.needs_teacher:  # fail on unsuitable architectures before training anything
        _preflight(cfg, method, student, bundle)
    cfg, run = _start_run(cfg, f"{cfg.data.dataset}-{cfg.distill.method}", resume)  # all checked
    reporter = reporter if reporter is not None and distributed.current().is_main else Reporter()
    t0 = time.perf_counter()

    teacher, tinfo = (None, {})
    if method.needs_teacher:
        teacher, tinfo = _teacher_phase(cfg, bundle, run, device, reporter)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    student = student.to(device)
    taps = TeacherTaps(teacher, tinfo["arch"]) if method.needs_features else None
    # Initialisation from the teacher (IDSNN) happens once; a resumed run loads its checkpoint.
    init_info = {} if run.student_ckpt.exists() else method.init_student(student, teacher)
    t_classifier = classifier_weight(teacher) if teacher is not None else None

    step = student_step(method, teacher, taps, t_classifier)
    last = fit(
        Phase("student", student, sspec, step, cfg.train.epochs, cfg.train.lr, extra=method,
              compile=cfg.train.compile, precision=cfg.train.precision,
              cuda_graphs=cfg.train.cuda_graphs),
        bundle.train, bundle.test, batch_size=cfg.data.batch_size,
        num_workers=cfg.data.num_workers, cfg=cfg.train, seed=cfg.train.seed + 1, run=run,
        ckpt_path=run.student_ckpt, device=device, reporter=reporter,
    )
    if taps is not None:
        taps.close()
    summary = {
        "run_dir": str(run.path), "dataset": bundle.name, "method": cfg.distill.method,
        "teacher": {"arch": cfg.teacher.arch, **tinfo} if teacher is not None else None,
        "init": {k: v for k, v in init_info.items() if k == "initialised_from_teacher"},
        "student": {"arch": cfg.student.arch, "timesteps": cfg.student.timesteps,
                    "neuron": nspec.to_dict(), "test_acc": last.get("test_acc"),
                    "checkpoint": str(run.student_ckpt)},
        "epochs": cfg.train.epochs, "time_s": time.perf_counter() - t0, "device": str(device),
    }
    if distributed.current().is_main:
        run.write_summary(summary)
    return summary


def student_step(method, teacher: nn.Module | None, taps: TeacherTaps | None,
                 t_classifier: torch.Tensor | None):
    """The student phase's StepFn: student (through net) and teacher forwards, then the method."""

    def step(net, x, y):
        s_feats: dict = {}
        seq = None
        if method.needs_features or method.needs_sequence:
            # through net (the DDP wrapper under torchrun), not .module
            seq, s_feats = net(x, with_features=True)
            logits = seq.mean(0)
        else:
            logits = net(x)
        t_logits, t_feats = None, {}
        if teacher is not None:
            with torch.no_grad():
                t_logits = teacher(x)
            if taps is not None:
                t_feats = taps.pop()
        terms = method(StepOutputs(targets=y, student_logits=logits, teacher_logits=t_logits,
                                   student_features=s_feats if method.needs_features else {},
                                   teacher_features=t_feats, teacher_classifier=t_classifier,
                                   student_sequence=seq))
        return terms, logits

    return step


@torch.no_grad()
def probe_shapes(student: nn.Module, teacher: nn.Module, taps: TeacherTaps, bundle: DatasetBundle,
                 device: torch.device, batch_size: int | None = None) -> FeatureShapes:
    """Per-sample shapes of the student's and teacher's taps, from one forward on two samples."""
    x = torch.stack([bundle.train[i][0] for i in range(min(2, len(bundle.train)))]).to(device)
    mode = student.training
    student.eval()
    _, s_feats = student.forward_sequence(x)
    teacher(x)
    t_feats = taps.pop()
    student.train(mode)
    return FeatureShapes(
        student={k: tuple(v.shape[2:]) for k, v in s_feats.items()},
        teacher={k: tuple(v.shape[1:]) for k, v in t_feats.items()},
        num_classes=bundle.num_classes, has_classifier=classifier_weight(teacher) is not None,
        batch=batch_size,
    )


def evaluate_run(run_dir: str | Path, *, device: str = "auto") -> dict[str, Any]:
    """Reload a run's models and data split and measure test accuracy again."""
    run = open_run(run_dir)
    cfg = with_dataset_defaults(config_from_dict(load_yaml(run.config_path)))
    dev = resolve_device(device)
    bundle = load_data(cfg)
    loader = eval_loader(bundle.test, cfg.data.batch_size)
    out: dict[str, Any] = {"run_dir": str(run.path), "dataset": bundle.name,
                           "test_samples": len(bundle.test)}
    for role, path in (("teacher", run.teacher_ckpt), ("student", run.student_ckpt)):
        if path.exists():
            model, spec, _ = load_model(path, role, bundle)
            out[role] = {"arch": spec.arch, "test_acc": evaluate(model.to(dev), loader, dev)}
    if "student" not in out and "teacher" not in out:
        raise CheckpointError(f"{run.path} holds no teacher.pt or student.pt to evaluate")
    return out
