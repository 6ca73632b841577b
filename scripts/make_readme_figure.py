#!/usr/bin/env python
"""The README's figure: content | style | result of ``make demo``, side by side.

Usage (after ``make demo``)::

    .venv/bin/python scripts/make_readme_figure.py   # outputs/demo.png -> images/readme/chelsea_swirls.jpg
"""

from pathlib import Path

import numpy as np

from nst_utils import load_image, save_image

ROOT = Path(__file__).resolve().parents[1]

GAP = 8  # white pixels between the panels


def main():
    result = load_image(ROOT / "outputs" / "demo.png")
    height, width = result.shape[1:3]
    panels = [load_image(ROOT / "images" / name, width, height) for name in ("chelsea.jpg", "swirls.jpg")]
    gap = np.ones((1, height, GAP, 3), np.float32)
    out = save_image(
        ROOT / "images" / "readme" / "chelsea_swirls.jpg",
        np.concatenate([panels[0], gap, panels[1], gap, result], axis=2),
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
