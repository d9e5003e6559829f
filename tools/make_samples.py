#!/usr/bin/python3
"""How data/samples/ was made: public-domain / CC0 photos from scikit-image's
bundled data, downscaled to a modest size and saved as 8-bit RGB PNG.

Not part of the build and not run by CI; it documents the samples' provenance.
Needs Debian's python3-skimage (0.19.3 was used): apt-get install python3-skimage
Run from the repository root: /usr/bin/python3 tools/make_samples.py [OUT_DIR]

Every image's licence is stated in the docstring of its loader in
skimage/data/_fetchers.py (scikit-image 0.19); data/samples/README.md quotes them.
"""
import os
import sys

import numpy as np
import skimage
from skimage import color, io, transform

# output name -> file in skimage/data (all public domain or CC0; see README.md)
SOURCES = {
    "astronaut": "astronaut.png",
    "cat": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "hubble": "hubble_deep_field.jpg",
    "camera": "camera.png",
}
LONGEST_SIDE = 448  # keeps the six PNGs under about 2 MB together


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("data", "samples")
    os.makedirs(out, exist_ok=True)
    data_dir = os.path.join(os.path.dirname(skimage.__file__), "data")
    total = 0
    for name, file in SOURCES.items():
        image = io.imread(os.path.join(data_dir, file))
        if image.ndim == 2:
            image = color.gray2rgb(image)
        image = image[..., :3]
        h, w = image.shape[:2]
        scale = min(1.0, LONGEST_SIDE / max(h, w))
        if scale < 1.0:
            size = (round(h * scale), round(w * scale))
            # Gaussian pre-filter then interpolation: no aliasing from the downscale.
            image = transform.resize(image, size, order=3, anti_aliasing=True, preserve_range=True)
            image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        path = os.path.join(out, name + ".png")
        io.imsave(path, image, check_contrast=False)
        total += os.path.getsize(path)
        print(f"{path}: {image.shape[1]}x{image.shape[0]} from {file} ({w}x{h})")
    print(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
