"""Torch code whose parameters, or arithmetic, are float32 while the caller's tensors are float64.

adcheck passes float64 tensors; these modules compute in float32 internally and hand float64
back, the way mixed-precision code does.
"""

import torch
import torch.nn as nn

torch.manual_seed(0)

float32_layer = nn.Linear(4, 3, dtype=torch.float32)


def float32_linear(x):
    """An nn.Linear with float32 parameters, called on a float64 input cast to the layer's dtype
    (``x.to(self.weight.dtype)``, the cast Hugging Face models make before their layers), the
    output cast back."""
    return float32_layer(x.to(float32_layer.weight.dtype)).to(x.dtype)


class LlamaRMSNorm(nn.Module):
    """transformers' LlamaRMSNorm: upcasts to float32, normalises, casts back to the input dtype.

    https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py
    Its weight is created as float32 here explicitly (adcheck makes float64 the default dtype).
    """

    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size, dtype=torch.float32) + 0.1 * torch.arange(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


rms_norm = LlamaRMSNorm(6)

float32_mlp = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1)).float()


def float32_mlp_loss(x):
    """A float32 MLP (``.float()``, as after loading float32 weights) summed over a batch, on a
    float64 batch cast to float32."""
    return float32_mlp(x.float()).double().pow(2).sum()
