#!/usr/bin/env python
"""Export the *content* photographs used for neural style transfer.

Usage::

    python scripts/make_content_images.py

The photos come from the sample images that ship inside the scikit-image
wheel (``skimage/data/*.png|jpg``); nothing is downloaded.  Each one is
cropped to landscape 4:3 and resized to 640 x 480 (the originals are only
451 to 640 pixels wide, so a larger size would just be upsampled blur), then
written as ``images/<name>.jpg`` at JPEG quality 92.

Licences (quoted from the docstrings in ``skimage/data/_fetchers.py``; see
images/CREDITS.md):

* chelsea   - "No copyright restrictions.  CC0 by the photographer
               (Stefan van der Walt)."
* coffee    - "No copyright restrictions.  CC0 by the photographer
               (Rachel Michetti)."
* astronaut - NASA photo of Eileen Collins, "No known copyright
               restrictions, released into the public domain."
* rocket    - SpaceX photo, "released in the public domain".
"""

import os

from PIL import Image
from skimage import data

OUT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "images")
OUT_SIZE = (640, 480)

# name -> (loader, crop box (left, upper, right, lower) in source pixels)
PHOTOS = {
    "chelsea": (data.chelsea, (20, 0, 420, 300)),  # 451 x 300 source
    "coffee": (data.coffee, (34, 0, 567, 400)),  # 600 x 400 source
    "astronaut": (data.astronaut, (0, 0, 512, 384)),  # 512 x 512 source
    "rocket": (data.rocket, (35, 0, 604, 427)),  # 640 x 427 source
}


def main():
    for name, (loader, box) in PHOTOS.items():
        img = Image.fromarray(loader()).convert("RGB").crop(box)
        img = img.resize(OUT_SIZE, Image.LANCZOS)
        path = os.path.join(OUT_DIR, name + ".jpg")
        img.save(path, "JPEG", quality=92)
        print(f"{name + '.jpg':<14} {img.size[0]}x{img.size[1]}  {os.path.getsize(path) / 1024.0:6.1f} KB")


if __name__ == "__main__":
    main()
