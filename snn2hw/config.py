"""Run configuration: one dataclass per stage, YAML in and out, overrides, validated with errors
that name the key and the CLI option."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from snn2hw.errors import ConfigError


@dataclass
class DataConfig:
    dataset: str = "digits"
    """Dataset name: digits (embedded, no download), cifar10, cifar100; event data: nmnist,
    dvs-gesture, cifar10-dvs (frames [T, 2, H, W] with T = student.timesteps)."""
    data_root: str = "data"
    """Folder that holds downloaded datasets (not used by digits)."""
    download: bool = False
    """Let torchvision download missing files (needs network)."""
    batch_size: int = 64
    train_subset: Optional[int] = None
    """Use only this many (seeded random) training samples."""
    test_subset: Optional[int] = None
    """Use only this many (seeded random) test samples."""
    num_workers: int = 0
    """DataLoader worker processes."""
    frame_size: Optional[int] = None
    """Event data: frame height = width in pixels (events downsampled); null = dataset default
    (dvs-gesture 128, cifar10-dvs 48, nmnist 34)."""
    denoise_us: Optional[int] = None
    """Event data: tonic Denoise filter time in microseconds (e.g. 10000); null = off."""
    augment: Literal["none", "roll", "flip-roll"] = "none"
    """Event data, train split: TET augmentation; roll = random shift of up to max_shift pixels,
    flip-roll = horizontal flip (p=0.5) + roll (not for dvs-gesture: it swaps left/right classes)."""
    max_shift: int = 5
    """Event data: largest roll in pixels."""
    split: Literal["9:1", "7:3"] = "9:1"
    """cifar10-dvs: train:test ratio of the seeded per-class split."""
    split_seed: int = 0
    """cifar10-dvs: seed of the per-class split (independent of train.seed)."""
    cache: bool = True
    """Event data: cache decoded frames on disk (keyed by all frame parameters)."""
    cache_dir: Optional[str] = None
    """Event data: frame cache folder; null = <data_root>/.snn2hw-cache, or
    ~/.cache/snn2hw/frames when data_root is read-only."""


@dataclass
class TeacherConfig:
    arch: Optional[str] = None
    """ANN teacher architecture; null = the dataset's default (DEFAULT_ARCHS)."""
    path: Optional[str] = None
    """Load this teacher checkpoint instead of training one."""
    weights: Optional[str] = None
    """Use this state dict file (ours, torchvision-style, or a paper's reference code) as the
    teacher of architecture `arch` instead of training one."""
    epochs: int = 15
    lr: float = 2e-3
    # Teacher optimisation; null = the student's value in train.* (same meaning there).
    optimizer: Optional[Literal["adam", "sgd"]] = None
    momentum: Optional[float] = None
    nesterov: Optional[bool] = None
    weight_decay: Optional[float] = None
    schedule: Optional[Literal["cosine", "multistep", "none"]] = None
    milestones: Optional[list] = None
    gamma: Optional[float] = None


@dataclass
class StudentConfig:
    arch: Optional[str] = None
    """Spiking student architecture; null = the dataset's default (DEFAULT_ARCHS)."""
    timesteps: Optional[int] = None
    """Time steps T per sample (= frames per event sample); null = dataset default (DEFAULT_TIMESTEPS)."""
    neuron: Optional[str] = None
    """Neuron preset: tet (LIF leak 0.5, V_th 1), idsnn (leak 0.25, V_th 0.5), kdsnn (IF), norse
    (CUBA); null = the method's paper neuron (METHOD_NEURONS: kdsnn IF, idsnn its LIF, sastc,
    ckdsnn and the others tet)."""
    neuron_params: dict = field(default_factory=dict)
    """Override single neuron fields of the preset, e.g. {leak: 0.9, surrogate: atan}."""


@dataclass
class TrainConfig:
    epochs: int = 60
    lr: float = 3e-3
    optimizer: Literal["adam", "sgd"] = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    """sgd: Nesterov momentum."""
    scheduler: Literal["cosine", "none"] = "cosine"
    """Learning-rate schedule of older configs; train.schedule, when set, takes precedence."""
    schedule: Optional[Literal["cosine", "multistep", "none"]] = None
    """cosine (to 0 over the epochs), multistep (lr *= gamma at each epoch in milestones), none;
    null = train.scheduler."""
    milestones: list = field(default_factory=list)
    """multistep: epochs after which the learning rate is multiplied by gamma, e.g. [60, 120, 180]."""
    gamma: float = 0.1
    """multistep: factor applied at each milestone."""
    seed: int = 0
    device: str = "auto"
    """auto (CUDA when present), cpu, cuda, cuda:N."""
    neuron_backend: Literal["auto", "fused", "reference", "triton"] = "auto"
    """Neuron implementation: fused (one autograd node over T), reference (autograd step loop),
    triton (one CUDA kernel over T); auto = triton on CUDA when installed, else fused."""
    compile: bool = False
    """Run the student's training forward through torch.compile (one-time compile cost)."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """Student training precision: fp32, or bf16 autocast (neuron state stays fp32)."""
    cuda_graphs: bool = False
    """Replay the student's whole training step as one CUDA graph (CUDA only)."""


@dataclass
class DistillConfig:
    method: str = "kd"
    """Distillation method: baseline (CE only), kd (response KD), kdsnn (response KD from output
    spikes), kdsnn-feature, sastc, ckdsnn, idsnn."""
    tau: Optional[float] = None
    """KD temperature; null = the method's paper default (kd/kdsnn/sastc/idsnn 4, ckdsnn 2)."""
    weight: Optional[float] = None
    """Weight w of the response-KD term, L = CE + w * KD + ...; null = the method's default
    (kd 1, kdsnn 1, sastc 1, ckdsnn 1, idsnn 0.3, kdsnn-feature 0 = no response KD)."""
    feature_weight: Optional[float] = None
    """Weight of the method's feature term; null = its default (kdsnn-feature alpha 1e-3,
    sastc beta 800, ckdsnn SAMD weight 1)."""
    feature_pairs: list = field(default_factory=list)
    """kdsnn-feature: stage pairs 'student_tap:teacher_tap', e.g. [layer2:layer2]; empty = the
    deepest taps of both networks matched by depth."""
    sastc_variant: Literal["paper", "code"] = "code"
    """sastc: code = MSE between projected student and teacher maps (the released code, default);
    paper = MSE between their similarity matrices (one reading of the paper's text)."""
    sastc_similarity: Literal["raw", "l2"] = "raw"
    """sastc: similarity matrices A = F F^T as the released code (raw), or with L2-normalised
    rows (l2, SemCKD's paper)."""
    sastc_rows: Literal["instance", "sorted"] = "instance"
    """sastc: the query/key MLPs read each instance's similarity row in batch order (instance,
    the released code; width = per-process batch, a smaller last batch zero-padded), or the row
    sorted and resampled to sastc_row_bins values (sorted: batch-size free, loses which
    instance is which)."""
    sastc_embed_dim: Optional[int] = None
    """sastc: width of the query/key vectors; null = per-process batch // 4 (the released code's
    factor 4) for instance rows, 64 for sorted rows."""
    sastc_row_bins: int = 32
    """sastc, sorted rows: fixed width of the row profile the query/key MLPs read."""
    samd_tau: float = 2.0
    """ckdsnn: temperature of the spatial softmax over CAM/SAM."""
    nld: bool = True
    """ckdsnn: smooth the student logits in the KD term with Gaussian noise (training only)."""
    nld_mode: Literal["mix", "additive"] = "mix"
    """ckdsnn: mix = the released code's w*softmax(z/tau) + (1-w)*softmax(noise/tau) with noise =
    mean(z) + N(0,1)*var(z); additive = z + nld_scale*std(z)*N(0,1) in the KD term."""
    nld_weight: float = 0.9
    """ckdsnn, mix: weight w of the clean student distribution (the released noise_weight)."""
    nld_scale: float = 1.0
    """ckdsnn, additive: noise std as a multiple of the logits' std over classes."""
    kdsnn_response: Literal["spikes", "readout"] = "spikes"
    """kdsnn (and kdsnn-feature's optional KD term): the student's response is its output spike
    count / T (KDSNN Algorithm 1: IF neurons on the readout), or the readout averaged over T."""
    idsnn_init: bool = True
    """idsnn: initialise the student ResNet from the teacher (false = random init, KD only)."""
    idsnn_copy_shortcuts: bool = False
    """idsnn: also copy the teacher's 1x1 projection shortcuts (the released code does not)."""
    idsnn_bn_init: bool = True
    """idsnn: BN weights start at the neuron's V_th and biases at 0 before the copy (released
    tdBN init), so the layers not copied start there too."""


@dataclass
class RunConfig:
    name: Optional[str] = None
    """Run folder name under runs_dir (default: <dataset>-<method>-<time>)."""
    runs_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# Per-dataset defaults for keys left null: (teacher arch, student arch) and time steps.
DEFAULT_ARCHS: dict[str, tuple[str, str]] = {
    "nmnist": ("event-cnn", "nmnist-snn"),
    "dvs-gesture": ("vgg-ann", "vggsnn"),
    "cifar10-dvs": ("vgg-ann", "vggsnn"),
}
FALLBACK_ARCHS = ("digits-cnn", "digits-snn")
DEFAULT_TIMESTEPS: dict[str, int] = {"nmnist": 8, "dvs-gesture": 16, "cifar10-dvs": 10}
FALLBACK_TIMESTEPS = 4
# Teachers that take event frames [B, T, 2, H, W] (the others expect a static image).
EVENT_TEACHERS = ("event-cnn", "vgg-ann", "vgg-ann-gap")


def teacher_train_config(cfg: RunConfig) -> TrainConfig:
    """train.* with the teacher's own optimisation keys (teacher.optimizer, ...) where set."""
    keys = ("optimizer", "momentum", "nesterov", "weight_decay", "schedule", "milestones", "gamma")
    given = {k: getattr(cfg.teacher, k) for k in keys if getattr(cfg.teacher, k) is not None}
    return dataclasses.replace(cfg.train, **given)


# The neuron each method's paper trains with, used when student.neuron is left null.
METHOD_NEURONS: dict[str, str] = {"kdsnn": "kdsnn", "kdsnn-feature": "kdsnn", "idsnn": "idsnn",
                                  "sastc": "tet", "ckdsnn": "tet"}
FALLBACK_NEURON = "tet"


def with_dataset_defaults(cfg: RunConfig) -> RunConfig:
    """A copy with null arch/timesteps/neuron keys replaced by the dataset's and method's defaults
    (runs save this)."""
    teacher, student = DEFAULT_ARCHS.get(cfg.data.dataset, FALLBACK_ARCHS)
    if teacher == "vgg-ann" and cfg.distill.method == "ckdsnn":
        teacher = "vgg-ann-gap"  # ckdsnn's CAM needs a pooled linear head
    out = dataclasses.replace(
        cfg,
        teacher=dataclasses.replace(cfg.teacher, arch=cfg.teacher.arch or teacher),
        student=dataclasses.replace(
            cfg.student, arch=cfg.student.arch or student,
            timesteps=cfg.student.timesteps or DEFAULT_TIMESTEPS.get(cfg.data.dataset, FALLBACK_TIMESTEPS),
            neuron=cfg.student.neuron or METHOD_NEURONS.get(cfg.distill.method, FALLBACK_NEURON),
        ),
    )
    validate(out)
    return out


# Which CLI option sets which key, so that error messages can name it.
CLI_FLAGS: dict[str, str] = {
    "name": "--name", "runs_dir": "--runs-dir", "data.dataset": "--dataset",
    "data.data_root": "--data-root", "data.download": "--download",
    "data.batch_size": "--batch-size", "teacher.path": "--teacher",
    "teacher.epochs": "--teacher-epochs", "teacher.arch": "--teacher-arch",
    "student.arch": "--student-arch", "student.timesteps": "--timesteps",
    "student.neuron": "--neuron", "train.epochs": "--epochs", "train.lr": "--lr",
    "train.seed": "--seed", "train.device": "--device", "distill.method": "--method",
    "train.neuron_backend": "--neuron-backend", "train.compile": "--compile",
    "train.precision": "--precision", "train.cuda_graphs": "--cuda-graphs",
    "distill.tau": "--tau", "distill.weight": "--kd-weight",
    "distill.feature_weight": "--feature-weight", "distill.sastc_variant": "--sastc-variant",
    "data.frame_size": "--frame-size", "data.denoise_us": "--denoise-us",
    "data.augment": "--augment", "data.split": "--split", "data.split_seed": "--split-seed",
    "data.cache": "--cache/--no-cache", "data.cache_dir": "--cache-dir",
    "teacher.weights": "--teacher-weights",
}


def _floats(cfg: Any, prefix: str = "") -> list[tuple[str, float]]:
    """Every float-valued key of a config (dotted name, value), for the finiteness check."""
    out: list[tuple[str, float]] = []
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            out += _floats(v, f"{prefix}{f.name}.")
        elif isinstance(v, float):
            out.append((prefix + f.name, v))
    return out


def _where(key: str) -> str:
    flag = CLI_FLAGS.get(key)
    return f"option {flag} or key '{key}' in the config file" if flag else f"key '{key}' (--set {key}=...)"


def _coerce(key: str, tp: Any, value: Any) -> Any:
    """Check `value` against annotation `tp`; accept ints for floats; raise ConfigError otherwise."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(key, inner[0], value)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(
                f"{key} must be one of {', '.join(map(repr, choices))} (got {value!r}); set it with "
                f"{_where(key)}"
            )
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is list or origin is list:
        if isinstance(value, list):
            return list(value)
        if isinstance(value, str):  # --set distill.feature_pairs=layer2:layer2
            return [value]
    elif tp is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
    elif dataclasses.is_dataclass(tp):
        if value is None:  # an empty section ('train:' with nothing under it)
            value = {}
        if isinstance(value, dict):
            return _build(tp, value, prefix=f"{key}.")
    else:  # pragma: no cover - every annotation above is handled
        return value
    name = getattr(tp, "__name__", str(tp))
    raise ConfigError(
        f"{key} must be of type {name} (got {value!r}, a {type(value).__name__}); fix "
        f"{_where(key)}"
    )


_KINDS = {"int": "an integer", "bool": "a boolean", "float": "a number", "NoneType": "null"}


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    odd = [k for k in data if not isinstance(k, str)]
    if odd:
        raise ConfigError(
            f"config key {odd[0]!r} in {prefix.rstrip('.') or 'the top level'} reads as "
            f"{_KINDS.get(type(odd[0]).__name__, 'a ' + type(odd[0]).__name__)}, not a name; "
            f"valid keys there are: {', '.join(sorted(fields))}"
        )
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix + unknown[0]!r}; valid keys in "
            f"{prefix.rstrip('.') or 'the top level'} are: {', '.join(sorted(fields))}"
        )
    kwargs = {k: _coerce(prefix + k, hints[k], v) for k, v in data.items()}
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Build and validate a RunConfig from a nested dict (YAML)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config file must hold a mapping of keys at its top level, not {type(data).__name__}")
    cfg = _build(RunConfig, data)
    validate(cfg)
    return cfg


def load_yaml(path: str | Path, what: str = "config file", option: str = "option --config") -> dict[str, Any]:
    """A YAML mapping from `path`; a missing, unreadable, binary or non-mapping file is a ConfigError."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what} {p} is a folder, not a YAML file ({option})")
    if not p.is_file():
        raise ConfigError(f"{what} {p} does not exist ({option})")
    try:
        data = yaml.safe_load(p.read_bytes().decode("utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {p} is not a text file (not UTF-8): give a YAML file like "
                          f"examples/*.yaml ({option})") from None
    except OSError as e:
        from snn2hw.fileio import os_error

        raise os_error(e, p, f"read {what}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{what} {p} is not valid YAML: {e}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{what} {p} must hold a mapping of keys (e.g. 'train: {{epochs: 3}}') at its top "
            f"level, not a {type(data).__name__} ({option})"
        )
    return data


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set data['a']['b'] = value for dotted = 'a.b', creating levels as needed."""
    parts = dotted.split(".")
    node = data
    for p in parts[:-1]:
        if node.get(p) is None:  # absent, or an empty section in YAML ('train:') read as null
            node[p] = {}
        node = node[p]
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {dotted}: {p} is not a section")
    node[parts[-1]] = value


def parse_assignment(text: str) -> tuple[str, Any]:
    """'train.lr=0.01' -> ('train.lr', 0.01), the value parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE, e.g. --set train.lr=0.01 (got {text!r})")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set expects KEY=VALUE with a dotted key like train.lr (got {text!r})")
    try:
        return key, yaml.safe_load(raw)
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else "parse error"
        raise ConfigError(
            f"--set {text!r}: the value {raw!r} is not valid YAML ({first}); quote strings and "
            "close brackets, e.g. --set 'distill.feature_pairs=[layer2:layer2]'"
        ) from None


def resolve_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None,
    assignments: list[str] = (),
) -> RunConfig:
    """Defaults <- YAML file <- --set assignments <- explicit CLI options (None = not given).

    overrides: dotted keys, e.g. {"train.epochs": 2, "data.dataset": "nmnist"}.
    """
    data: dict[str, Any] = load_yaml(path) if path else {}
    for text in assignments:
        set_key(data, *parse_assignment(text))
    for key, value in (overrides or {}).items():
        if value is not None:
            set_key(data, key, value)
    return config_from_dict(data)


DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")


def validate(cfg: RunConfig) -> None:
    """Cross-field and range checks; messages name the option to change."""
    for key, v in _floats(cfg):
        if not math.isfinite(v):
            raise ConfigError(f"{key} must be a finite number (got {v}); set it with {_where(key)}")
    for key, v in {"train.weight_decay": cfg.train.weight_decay, "train.momentum": cfg.train.momentum,
                   "data.num_workers": cfg.data.num_workers, "train.seed": cfg.train.seed,
                   "data.split_seed": cfg.data.split_seed}.items():
        if v < 0:
            raise ConfigError(f"{key} must be >= 0 (got {v}); set it with {_where(key)}")
    if not DEVICE_PATTERN.fullmatch(cfg.train.device):
        raise ConfigError(
            f"unknown device {cfg.train.device!r}; use auto, cpu, cuda or cuda:N (option --device)"
        )
    if cfg.name is not None and (not cfg.name.strip() or cfg.name in (".", "..")
                                 or "/" in cfg.name or "\\" in cfg.name):
        raise ConfigError(
            f"run name {cfg.name!r} must be a plain folder name (no '/', not '.' or '..'); choose "
            "another --name, and put the parent folder in --runs-dir"
        )
    positive = {
        "data.batch_size": cfg.data.batch_size, "train.epochs": cfg.train.epochs,
        "teacher.epochs": cfg.teacher.epochs, "student.timesteps": cfg.student.timesteps,
    }
    for key, v in positive.items():
        if v is not None and v < 1:
            raise ConfigError(f"{key} must be a positive integer (got {v}); set it with {_where(key)}")
    d = cfg.distill
    for key, v in {"train.lr": cfg.train.lr, "teacher.lr": cfg.teacher.lr, "distill.tau": d.tau,
                   "distill.samd_tau": d.samd_tau, "distill.sastc_embed_dim": d.sastc_embed_dim,
                   "distill.sastc_row_bins": d.sastc_row_bins}.items():
        if v is not None and v <= 0:
            raise ConfigError(f"{key} must be > 0 (got {v}); set it with {_where(key)}")
    for key, v in {"distill.weight": d.weight, "distill.feature_weight": d.feature_weight,
                   "distill.nld_scale": d.nld_scale}.items():
        if v is not None and v < 0:
            raise ConfigError(f"{key} must be >= 0 (got {v}); set it with {_where(key)}")
    if not 0.0 <= d.nld_weight <= 1.0:
        raise ConfigError(f"distill.nld_weight must be in [0, 1] (got {d.nld_weight}); set it with "
                          f"{_where('distill.nld_weight')}")
    for p in d.feature_pairs:
        if not isinstance(p, str) or p.count(":") != 1:
            raise ConfigError(
                f"distill.feature_pairs entries must be strings 'student_tap:teacher_tap' (got "
                f"{p!r}); e.g. --set 'distill.feature_pairs=[layer2:layer2]'"
            )
    for key in ("data.frame_size", "data.denoise_us"):
        v = getattr(cfg.data, key.split(".")[1])
        if v is not None and v < 1:
            raise ConfigError(f"{key} must be a positive integer or null (got {v}); set it with {_where(key)}")
    if (cfg.data.dataset in DEFAULT_ARCHS and cfg.teacher.arch is not None
            and cfg.teacher.arch not in EVENT_TEACHERS):
        raise ConfigError(
            f"teacher {cfg.teacher.arch!r} takes static images, but {cfg.data.dataset} gives event "
            f"frames [B, T, 2, H, W]; choose one of {', '.join(EVENT_TEACHERS)} with "
            f"{_where('teacher.arch')}"
        )
    for section in (cfg.train, cfg.teacher):
        ms = section.milestones
        if ms is not None and (not isinstance(ms, list) or not all(
                isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in ms)):
            key = "train.milestones" if section is cfg.train else "teacher.milestones"
            raise ConfigError(
                f"{key} must be a list of positive epoch numbers, e.g. [60, 120, 180] (got {ms!r}); "
                f"set it with {_where(key)}"
            )
    for section, name in ((cfg.train, "train"), (cfg.teacher, "teacher")):
        sched = section.schedule or (cfg.train.schedule if name == "teacher" else None)
        ms = section.milestones if section.milestones is not None else cfg.train.milestones
        if sched == "multistep" and not ms:
            raise ConfigError(
                f"{name}.schedule multistep needs the epochs at which to decay, e.g. "
                f"--set {name}.milestones=[60,120,180] (and {name}.gamma, default 0.1)"
            )
    if cfg.teacher.path and cfg.teacher.weights:
        raise ConfigError(
            "give the teacher either as an snn2hw checkpoint (--teacher) or as a state dict "
            "(--teacher-weights), not both"
        )
    if cfg.data.max_shift < 0:
        raise ConfigError(f"data.max_shift must be >= 0 (got {cfg.data.max_shift}); set it with {_where('data.max_shift')}")
    for key in ("data.train_subset", "data.test_subset"):
        v = getattr(cfg.data, key.split(".")[1])
        if v is not None and v < 1:
            raise ConfigError(f"{key} must be a positive integer or null (got {v})")
