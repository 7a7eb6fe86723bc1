"""A training script's numpy preprocessing, in a file that also imports torch for the model.

The pattern of countless PyTorch examples (e.g. https://pytorch.org/tutorials/beginner/data_loading_tutorial.html
normalises landmarks with numpy next to its torch Dataset): the checked function is pure numpy.
"""

import numpy as np
import torch


def standardize(x):
    """Zero mean, unit variance, in numpy (what sklearn's StandardScaler computes per feature)."""
    return (x - np.mean(x)) / np.std(x)


def to_tensor(x):
    """The torch side of the file (not a case): numpy array -> tensor."""
    return torch.from_numpy(np.asarray(x))
