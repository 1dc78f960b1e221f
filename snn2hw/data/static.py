"""Static image datasets: the embedded 8x8 digits (no download), CIFAR-10 and CIFAR-100 (torchvision)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset, TensorDataset

from snn2hw.data.base import DatasetBundle
from snn2hw.errors import DataError

DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2


def load_digits(data_root: str, download: bool) -> DatasetBundle:
    """scikit-learn's bundled handwritten digits: 1797 8x8 images in [0, 1], seeded 80/20 split."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    d = sk_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    idx_tr, idx_te = train_test_split(
        torch.arange(len(y)).numpy(), test_size=DIGITS_TEST_FRACTION,
        random_state=DIGITS_SPLIT_SEED, stratify=y.numpy(),
    )
    return DatasetBundle(
        name="digits", train=TensorDataset(x[idx_tr], y[idx_tr]),
        test=TensorDataset(x[idx_te], y[idx_te]), in_shape=(1, 8, 8), num_classes=10,
    )


_CIFAR = {
    "cifar10": ("CIFAR10", "cifar-10-batches-py", "cifar-10-python.tar.gz", 10,
                ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))),
    "cifar100": ("CIFAR100", "cifar-100-python", "cifar-100-python.tar.gz", 100,
                 ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))),
}


def load_cifar(name: str, data_root: str, download: bool) -> DatasetBundle:
    """CIFAR-10/100 via torchvision from `data_root`; train augmentation: crop 32 pad 4 + h-flip."""
    import torchvision
    from torchvision import transforms as T

    cls_name, folder, archive, n_classes, (mean, std) = _CIFAR[name]
    root = Path(data_root).expanduser()
    norm = T.Normalize(mean, std)
    train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    test_tf = T.Compose([T.ToTensor(), norm])
    cls = getattr(torchvision.datasets, cls_name)
    try:
        train: Dataset = cls(str(root), train=True, download=download, transform=train_tf)
        test: Dataset = cls(str(root), train=False, download=download, transform=test_tf)
    except RuntimeError as e:
        raise DataError(
            f"{name} was not found (or is corrupt) under {root}: expected the folder "
            f"{root / folder} as extracted from torchvision's {archive} ({e}). Put the extracted "
            f"folder there, point --data-root at its parent, or add --download on a machine "
            "with network access."
        ) from None
    except OSError as e:
        raise DataError(
            f"{name} could not be read from {root / folder} ({e}); re-extract {archive} there, "
            "or add --download on a machine with network access."
        ) from None
    return DatasetBundle(name=name, train=train, test=test, in_shape=(3, 32, 32),
                         num_classes=n_classes)
