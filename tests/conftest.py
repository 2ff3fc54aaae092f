"""The test data shared by the test modules: one in-memory data set, tiny photo folders and a tiny model.

* :class:`TinyData` -- items in the data sets' format (image, gray, sketch, mask, path), the same for the
  same index every time; the trainers, the ablation and the paper experiment train on it.
* :func:`tiny_vgg` -- a two-layer stand-in for VGG19 (no weights to download) for the stage-2 losses.
* :func:`write_photos` -- smooth random colour images written to a folder (Canny finds edges in them), for
  the tests that go through files: the data set, the CLI, evaluation on a folder or a Places365 layout.
* the ``tiny_inpainter`` fixture -- an untrained width-4 Gs + Gi behind an :class:`Inpainter` with a
  random-weight HED (its soft map is non-zero), for the evaluation and baseline wiring tests.

Test modules import the builders (``from conftest import TinyData``) where a module-level helper needs them.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from inpaintkit import masks
from inpaintkit.losses import VGGFeatures

GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)   # scikit-image's rgb2gray


class TinyData(Dataset):
    """``n`` in-memory items of ``size`` px; item i is the same every time (seeded by i).

    ``holes="box"``: a 12 x 16 rectangle that moves with i; ``"irregular"``: a seeded free-form mask with a
    hole ratio in (0.1, 0.4) (:func:`inpaintkit.masks.irregular_mask`). Masks: 1 = known, 0 = hole.
    """

    def __init__(self, n: int = 10, size: int = 32, holes: str = "box"):
        if holes not in ("box", "irregular"):
            raise ValueError(f"holes={holes!r}: choose 'box' or 'irregular'.")
        self.n, self.size, self.holes = n, size, holes

    def __len__(self):
        return self.n

    def _mask(self, i: int) -> torch.Tensor:
        s = self.size
        if self.holes == "irregular":
            return torch.from_numpy(masks.irregular_mask(s, s, (0.1, 0.4), np.random.default_rng(i)))[None].float()
        mask = torch.ones(1, s, s)
        mask[:, 8:20, 4 + i % 8:20 + i % 8] = 0
        return mask

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        image = torch.rand(3, self.size, self.size, generator=g)
        gray = (image * torch.tensor(GRAY_WEIGHTS).view(3, 1, 1)).sum(0, keepdim=True)
        sketch = (torch.rand(1, self.size, self.size, generator=g) > 0.8).float()
        return {"image": image, "gray": gray, "sketch": sketch, "mask": self._mask(i), "path": f"fake{i}"}


def tiny_vgg() -> VGGFeatures:
    """A stand-in for VGG19 (no weights to download): two conv+ReLU layers, the same weights every call."""
    torch.manual_seed(123)
    body = nn.Sequential(nn.Conv2d(3, 4, kernel_size=3, padding=1), nn.ReLU(),
                         nn.Conv2d(4, 4, kernel_size=3, padding=1), nn.ReLU())
    return VGGFeatures.from_backbone(body, lambda x: x, [1, 3], [3], "tiny-test-vgg")


def write_photos(folder, n: int = 10, size: int = 40, name: str = "img{:02d}.png", first: int = 0):
    """``n`` smooth random colour images (5 x 5 random colours, resized bilinearly to ``size``), saved as
    ``folder / name.format(first + i)`` (the extension picks the format). Returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        small = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.BILINEAR).save(folder / name.format(first + i))
    return folder


@pytest.fixture(scope="module")
def tiny_inpainter():
    """An untrained Inpainter at width 4 with a random HED, soft sketches (no threshold), on the CPU."""
    from inpaintkit.hed import HED
    from inpaintkit.networks import image_generator, sketch_generator
    from inpaintkit.pipeline import Inpainter
    from inpaintkit.sketches import SketchSpec

    torch.manual_seed(0)
    hed = HED().eval()      # random weights: the wiring is under test, not the sketches
    return Inpainter(sketch_generator(4), image_generator(4), sketch_spec=SketchSpec(threshold=None, hed_min_side=1),
                     hed=hed, device="cpu")
