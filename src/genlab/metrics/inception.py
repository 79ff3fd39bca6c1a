"""Standard Inception-V3 FID features, for users who have the FID Inception weights locally (never downloaded).

genlab's default image metrics use a domain classifier (`genlab.metrics.features`); this module gives the number the
literature reports instead — FID on the pool3 features of the TensorFlow FID Inception graph (Heusel et al. 2017) —
when a user supplies the weights:

    genlab evaluate runs/mnist-diffusion-quick -n 5000 --features inception --inception-weights pt_inception.safetensors
    gl.evaluate(run, feature_net=load_inception("pt_inception.safetensors"))          # the same from Python

Protocol (torch-fidelity's, which torchmetrics' FID also uses; it reproduces the original TF implementation):
uint8 images, grayscale repeated to 3 channels, resized to 299×299 with TensorFlow-1.x bilinear interpolation
(`resize_bilinear_tf1`: source = output index × in/out, no half-pixel offset), scaled by (x − 128) / 128, then the
graph below up to the 2048-d average-pooled Mixed_7c output ("pool3"). Logits for the Inception Score are pool3 ×
fc.weightᵀ without the bias, as in the original IS code. pytorch-fid differs only in the resize (PyTorch bilinear,
half-pixel) and the scaling (2x/255 − 1); clean-fid resizes with PIL bicubic — each gives slightly different
absolute numbers, so compare FIDs only within one protocol.

Weights: the FID Inception weights (TF 2015-12-05 graph) in **torchvision's Inception3 key layout without
AuxLogits and with a 1008-way fc** — the layout of pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` and of
torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` (e.g. ``Conv2d_1a_3x3.conv.weight``,
``Mixed_5b.branch_pool.bn.running_var``, ``fc.weight`` (1008, 2048)); ``*.num_batches_tracked`` entries are
optional. genlab never unpickles, so convert the .pth once, on a machine with torch, to safetensors:

    python -c "import torch, safetensors.torch as st; sd = torch.load('pt_inception-2015-12-05-6726825d.pth', map_location='cpu', weights_only=True); st.save_file({k: v.contiguous() for k, v in sd.items()}, 'pt_inception.safetensors')"

The blocks follow the TF graph, which differs from torchvision's ImageNet Inception3: average pools inside the
blocks exclude padding (count_include_pad=False) and the last block (Mixed_7c) max-pools its pool branch.
Cost on a CPU: ~5.7 GFLOP per image, 0.25 CPU-seconds per image on this project's 2-core VM, so the 10k MNIST
test set takes ~20 minutes; the training pool for the floor therefore defaults to 2n images, not all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.errors import GenlabError

__all__ = ["InceptionV3", "load_inception", "resize_bilinear_tf1"]

INPUT_SIZE = 299
NUM_FEATURES = 2048
NUM_CLASSES = 1008  # the TF graph's classifier: 1000 ImageNet classes + 8 unused outputs
PROTOCOL = ("torch-fidelity: uint8, gray→RGB, TF1 bilinear resize to 299, (x-128)/128, pool3 2048-d; "
            "IS logits without the fc bias")
_MAX_BATCH = 32  # 299×299 activations: ~6 MB per image in the stem; keeps peak memory near 300 MB


# ---------------------------------------------------------------------------------------------- preprocessing

def resize_bilinear_tf1(images: Tensor, size: int) -> Tensor:
    """Bilinear resize (N, C, H, W) float → (N, C, size, size) as TensorFlow 1.x ``resize_bilinear`` with
    align_corners=False does it: output pixel i samples the input at i × (in / out) (no half-pixel offset), between
    floor and floor + 1 clamped to the last pixel."""

    def axis(n_in: int) -> tuple[Tensor, Tensor, Tensor]:
        pos = torch.arange(size, dtype=torch.float32, device=images.device) * (n_in / size)
        lo = pos.floor().long().clamp_max(n_in - 1)
        return lo, (lo + 1).clamp_max(n_in - 1), (pos - lo.float()).to(images.dtype)

    y_lo, y_hi, dy = axis(images.shape[2])
    x_lo, x_hi, dx = axis(images.shape[3])
    top, bottom = images[:, :, y_lo, :], images[:, :, y_hi, :]
    rows = top + (bottom - top) * dy.view(1, 1, -1, 1)
    left, right = rows[:, :, :, x_lo], rows[:, :, :, x_hi]
    return left + (right - left) * dx.view(1, 1, 1, -1)


def preprocess(images: Tensor) -> Tensor:
    """uint8 (or [0, 1] float) images (N, 1|3, H, W) → float32 (N, 3, 299, 299) in the graph's input scale."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise GenlabError(f"inception features: expected images (N, 1 or 3, H, W), got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        x = images.float()
    elif torch.is_floating_point(images):
        x = images.float() * 255.0
    else:
        raise GenlabError(f"inception features: expected uint8 or float images, got dtype {images.dtype}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return (resize_bilinear_tf1(x, INPUT_SIZE) - 128.0) / 128.0


# ---------------------------------------------------------------------------------------------- the graph

class BasicConv2d(nn.Module):
    """Conv (no bias) → BatchNorm (eps 1e-3, the TF graph's) → ReLU; keys ``conv.*`` and ``bn.*``."""

    def __init__(self, c_in: int, c_out: int, **conv: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, bias=False, **conv)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: Tensor) -> Tensor:
    """TF's 3×3 stride-1 average pool: padded zeros are not counted."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35×35 block (Mixed_5b/c/d): 1×1, 5×5, double 3×3 and pooled 1×1 branches."""

    def __init__(self, c_in: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(c_in, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(c_in, pool_features, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(_avg_pool(x))], dim=1)


class InceptionB(nn.Module):
    """35→17 reduction (Mixed_6a)."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(c_in, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


class InceptionC(nn.Module):
    """17×17 block with factorised 7×7 convolutions (Mixed_6b–e)."""

    def __init__(self, c_in: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(c_in, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(c_in, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(c_in, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        dbl = x
        for i in range(1, 6):
            dbl = getattr(self, f"branch7x7dbl_{i}")(dbl)
        return torch.cat([self.branch1x1(x), self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))), dbl,
                          self.branch_pool(_avg_pool(x))], dim=1)


class InceptionD(nn.Module):
    """17→8 reduction (Mixed_7a)."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


class InceptionE(nn.Module):
    """8×8 block with split 1×3 / 3×1 branches (Mixed_7b: average-pooled; Mixed_7c: max-pooled, as in the TF
    graph)."""

    def __init__(self, c_in: int, max_pool: bool = False) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(c_in, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(c_in, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(c_in, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(c_in, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(b3), self.branch3x3_2b(b3),
                          self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl), self.branch_pool(pooled)], dim=1)


class InceptionV3(nn.Module):
    """The FID Inception-V3 graph: ``forward(images)`` → (pool3 features (N, 2048), IS logits (N, 1008)).

    Quacks like `genlab.metrics.features.FeatureNet` for the image metrics (``extract``, ``num_features``,
    ``num_classes``), but takes 1- or 3-channel images (``in_channels`` None) and its classes are ImageNet's, so
    the class-balance check (meant for a domain classifier) is skipped (``classifies_domain`` False).
    ``info`` identifies the weights (file, sha256, protocol) in evaluation results.
    """

    in_channels = None
    num_features = NUM_FEATURES
    num_classes = NUM_CLASSES
    classifies_domain = False

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(NUM_FEATURES, NUM_CLASSES)
        self.info: dict[str, Any] = {"source": "inception-v3 (random init)", "protocol": PROTOCOL}

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = preprocess(images.to(self.fc.weight.device))
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), kernel_size=3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        pool3 = x.mean(dim=(2, 3))
        return pool3, pool3 @ self.fc.weight.T

    @torch.no_grad()
    def extract(self, images: Tensor, batch_size: int = 500) -> tuple[Tensor, Tensor]:
        """Features and logits of many images in eval mode, at most 32 per forward pass, float32 on the CPU."""
        self.eval()
        step = max(1, min(batch_size, _MAX_BATCH))
        feats, logits = [], []
        for start in range(0, images.shape[0], step):
            f, lg = self(images[start:start + step])
            feats.append(f.float().cpu())
            logits.append(lg.float().cpu())
        if not feats:
            raise GenlabError("inception features: no images given")
        return torch.cat(feats), torch.cat(logits)


# ---------------------------------------------------------------------------------------------- weights

def _names(keys: set[str], limit: int = 6) -> str:
    shown = sorted(keys)[:limit]
    return ", ".join(shown) + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


def check_state_dict(state: dict[str, Tensor], model: InceptionV3, path: Path) -> None:
    """GenlabError (one line) naming missing / unexpected keys or the first wrong shape against the documented
    layout (torchvision Inception3 names, no AuxLogits, 1008-way fc; num_batches_tracked optional)."""
    expected = {k: v.shape for k, v in model.state_dict().items()}
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = set(expected) - set(state) - optional
    unexpected = set(state) - set(expected)
    if missing or unexpected:
        parts = [f"{len(missing)} missing key(s): {_names(missing)}" if missing else "",
                 f"{len(unexpected)} unexpected key(s): {_names(unexpected)}" if unexpected else ""]
        raise GenlabError(f"{path}: not FID Inception-V3 weights in the torchvision/pytorch-fid key layout "
                          f"(see genlab.metrics.inception): {'; '.join(p for p in parts if p)}")
    for key, tensor in state.items():
        if key not in optional and tuple(tensor.shape) != tuple(expected[key]):
            raise GenlabError(f"{path}: {key} has shape {tuple(tensor.shape)}, expected {tuple(expected[key])}")


def load_inception(path: str | Path, device: torch.device | str = "cpu") -> InceptionV3:
    """The FID Inception-V3 from a safetensors file in the documented key layout (never unpickles), in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from genlab.metrics.features import file_sha256

    weights = Path(path)
    if not weights.is_file():
        raise GenlabError(f"{weights}: Inception weights not found (a .safetensors file; see genlab.metrics.inception "
                          "for converting pytorch-fid's .pth)")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise GenlabError(f"{weights}: not a safetensors file ({err}); genlab does not unpickle .pth files — convert "
                          "it once with the command in genlab.metrics.inception's docs") from None
    model = InceptionV3()
    check_state_dict(state, model, weights)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=False)
    model.info = {"source": str(weights), "sha256": file_sha256(weights), "protocol": PROTOCOL}
    return model.to(device).eval()
