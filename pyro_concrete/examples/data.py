# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Binarised image data sets for the VAE example.

- ``"digits"``: scikit-learn's bundled 8x8 handwritten digits (1797 images, no
  download), binarised at half intensity (pixel > 7 of 16), split once into 1500
  training and 297 test images with a fixed seed, so that runs with different
  training seeds are scored on the same test set.
- ``"mnist"``: MNIST (60000 + 10000 images of 28x28) through torchvision, binarised
  at half intensity. torchvision is imported only here, and only when asked for;
  the data must already be under ``data_dir`` unless ``download=True``.

Images are returned flattened, as float tensors of zeros and ones.
"""

import os
from typing import Optional, Tuple

import torch

__all__ = ["DATASETS", "load_dataset", "load_labelled_digits"]

#: Names accepted by :func:`load_dataset`.
DATASETS = ("digits", "mnist")

DIGITS_TEST_SIZE = 297
DIGITS_SPLIT_SEED = 0


def load_dataset(
    name: str = "digits",
    data_dir: Optional[str] = None,
    download: bool = False,
    dtype: torch.dtype = torch.float32,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Loads a binarised data set.

    :param str name: one of :data:`DATASETS`.
    :param str data_dir: where MNIST is (or is to be downloaded); ignored for digits.
    :param bool download: let torchvision download MNIST if it is not in ``data_dir``.
    :param torch.dtype dtype: the dtype of the returned tensors.
    :returns: ``(train, test)``, tensors of shape ``(num_images, num_pixels)``
        holding zeros and ones.
    :raises ValueError: for an unknown name, or when MNIST is unavailable (the
        message says what to do).
    """
    if name == "digits":
        train_images, _, test_images, _ = load_labelled_digits(dtype)
        return train_images, test_images
    if name == "mnist":
        return _load_mnist(data_dir, download, dtype)
    raise ValueError(f"dataset must be one of {', '.join(map(repr, DATASETS))}; got {name!r}.")


def load_labelled_digits(
    dtype: torch.dtype = torch.float32,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    The binarised digits with their classes (integers 0 to 9), split as
    :func:`load_dataset` splits them.

    :param torch.dtype dtype: the dtype of the images.
    :returns: ``(train_images, train_labels, test_images, test_labels)``.
    """
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    binary = torch.as_tensor(images > 7, dtype=dtype)
    labels = torch.as_tensor(labels)
    order = torch.randperm(len(binary), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    train, test = order[DIGITS_TEST_SIZE:], order[:DIGITS_TEST_SIZE]
    return binary[train], labels[train], binary[test], labels[test]


def _load_mnist(data_dir, download, dtype):
    try:
        from torchvision.datasets import MNIST
    except ImportError as error:
        raise ValueError(
            "dataset 'mnist' needs torchvision, which could not be imported "
            f"({error}). Install a torchvision that matches your torch "
            "(https://pytorch.org/get-started/locally/), or use --dataset digits."
        ) from error
    root = os.path.expanduser(data_dir if data_dir is not None else "data")
    try:
        splits = [MNIST(root, train=train, download=download) for train in (True, False)]
    except RuntimeError as error:
        raise ValueError(
            f"MNIST was not found under data_dir={root!r} ({error}). Pass --download "
            "to fetch it there, or --data-dir to point at an existing copy."
        ) from error
    return tuple((split.data.flatten(1) > 127).to(dtype) for split in splits)
