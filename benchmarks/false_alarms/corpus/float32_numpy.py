"""numpy code that computes in float32 internally from float64 inputs.

The pattern is everywhere numbers come from images, audio or GPUs: ``img.astype(np.float32) / 255``
(the first step of most torchvision/OpenCV preprocessing), librosa loading audio as float32
(https://librosa.org/doc/main/generated/librosa.load.html, ``dtype=np.float32``), JAX's own
default of float32. The float64 caller gets a float32-accurate function: its derivative is right,
but only to about 1e-7 relative, and finite differences need float32-sized steps to see it.
"""

import numpy as np


def float32_sine(x):
    """sin computed in float32 and returned as float64 (the float32 round trip of issue 10)."""
    return np.sin(x.astype(np.float32)).astype(np.float64)


def float32_softmax(x):
    """A softmax in float32, the way a float32 model's output layer computes it."""
    z = x.astype(np.float32)
    z = z - z.max()
    e = np.exp(z)
    return (e / e.sum()).astype(np.float64)


def normalize_image(pixels):
    """torchvision-style normalisation: float32, scale to [0, 1], subtract the ImageNet mean,
    divide by its std (https://pytorch.org/vision/stable/transforms.html, Normalize), then a
    smooth per-pixel response so the output depends nonlinearly on every input."""
    x = pixels.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(0.485)) / np.float32(0.229)
    return np.tanh(x)
