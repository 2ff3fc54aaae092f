#!/usr/bin/env python
"""Assemble an offline photo collection from Debian's wallpaper packages (for the shipped demo weights).

    python data_scripts/fetch_wallpaper_photos.py --out data/photos          # apt-get download + extract
    python data_scripts/fetch_wallpaper_photos.py --out data/photos --debs /tmp/debs   # .deb files already here

Only photographs are taken, named one by one in :data:`PHOTOS` (each package was looked at: the rest are
drawings, renders and abstract patterns). Checked and left out whole: ``gnome-backgrounds`` 43.1 (patterns,
renders) and ``ukui-wallpapers`` 20.04.3 (renders, drawings). Each photo is written as a JPEG (quality 92)
with its long side at most ``--max-side`` px (default 1600), and ``SOURCES.json`` beside them records, per
file, the package, its version, the path inside the package, the author and the licence: the demo weights'
metadata (``inpaintkit/weights/demo.json``) copies it.

Then ``python -m inpaintkit.train ... --photos data/photos`` adds them to the demo set (split by photograph,
see ``inpaintkit.data.demo_split_of``). Needs Debian's ``apt-get`` and ``dpkg-deb`` (no root for downloading).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone, too
from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.files import check_writable_dir  # noqa: E402

# package -> {photo name: (path inside the package, author, licence)}
# mate-backgrounds 1.26.0: licences from /usr/share/doc/mate-backgrounds/copyright (GPL-2+ throughout).
# plasma-workspace-wallpapers 5.27.5: each wallpaper's metadata.json (KPlugin.License, Authors).
PHOTOS: dict[str, dict[str, tuple[str, str, str]]] = {
    "mate-backgrounds": {
        "mate_aqua": ("usr/share/backgrounds/mate/nature/Aqua.jpg", "Charles Barbin", "GPL-2+"),
        "mate_blinds": ("usr/share/backgrounds/mate/nature/Blinds.jpg", "Lennart Poettering, Andrea Cimitan", "GPL-2+"),
        "mate_dune": ("usr/share/backgrounds/mate/nature/Dune.jpg", "Marco Cogoni, Hylke Bons", "GPL-2+"),
        "mate_freshflower": ("usr/share/backgrounds/mate/nature/FreshFlower.jpg", "Jens Ansorg", "GPL-2+"),
        "mate_garden": ("usr/share/backgrounds/mate/nature/Garden.jpg", "Charles Barbin", "GPL-2+"),
        "mate_greenmeadow": ("usr/share/backgrounds/mate/nature/GreenMeadow.jpg",
                             "Timothy Schellhase, Lapo Calamandrei", "GPL-2+"),
        "mate_ladybird": ("usr/share/backgrounds/mate/nature/LadyBird.jpg", "Charles Barbin", "GPL-2+"),
        "mate_raindrops": ("usr/share/backgrounds/mate/nature/RainDrops.jpg", "blackcombwhistler07", "GPL-2+"),
        "mate_storm": ("usr/share/backgrounds/mate/nature/Storm.jpg", "Sergey Nazarov", "GPL-2+"),
        "mate_twowings": ("usr/share/backgrounds/mate/nature/TwoWings.jpg", "Charles Barbin, Hylke Bons", "GPL-2+"),
        "mate_wood": ("usr/share/backgrounds/mate/nature/Wood.jpg", "Jean-François Fortin Tam", "GPL-2+"),
        "mate_yellowflower": ("usr/share/backgrounds/mate/nature/YellowFlower.jpg", "Charles Barbin", "GPL-2+"),
    },
    "plasma-workspace-wallpapers": {
        f"kde_{name.lower()}": (f"usr/share/wallpapers/{name}/contents/images/{res}.jpg", author, lic)
        for name, res, author, lic in (
            ("BytheWater", "2560x1600", "Maciej Wiklo", "LGPL-3"),
            ("ColdRipple", "2560x1600", "Risto Saukonpää", "LGPL-3"),
            ("ColorfulCups", "2560x1600", "Dmitri Popov", "LGPL-3"),
            ("DarkestHour", "2560x1600", "Risto Saukonpää", "LGPL-3"),
            ("EveningGlow", "2560x1600", "Ian Hex", "LGPL-3"),
            ("FallenLeaf", "2560x1600", "Martin Klapetek", "LGPL-3"),
            ("Grey", "2560x1600", "Sigi Sagi", "LGPL-3"),
            ("Kite", "2560x1600", "Risto Saukonpää", "LGPL-3"),
            ("OneStandsOut", "2560x1600", "Risto Saukonpää", "LGPL-3"),
            ("Path", "2560x1600", "Risto Saukonpää", "LGPL-3"),
            ("summer_1am", "2560x1600", "Risto Saukonpää", "LGPL-3"),
            ("Volna", "5120x2880", "Nikita Babin", "CC-BY-SA-4.0"),
        )
    },
}


def download(packages, dest: Path) -> dict[str, Path]:
    """``apt-get download`` each package into ``dest``; return package -> .deb path."""
    dest.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not list(dest.glob(f"{p}_*.deb"))]
    if missing:
        try:
            subprocess.run(["apt-get", "download", *missing], cwd=dest, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            raise SystemExit(f"error: `apt-get download {' '.join(missing)}` failed ({e}). On Debian/Ubuntu run "
                             "`apt-get update` first, or download the .deb files elsewhere and pass --debs DIR.")
    return {p: sorted(dest.glob(f"{p}_*.deb"))[-1] for p in packages}


def deb_version(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True,
                          text=True).stdout.strip()


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("data/photos"), help="output folder (default data/photos)")
    ap.add_argument("--debs", type=Path, default=None, help="folder with the .deb files (default: download them)")
    ap.add_argument("--max-side", type=int, default=1600, help="long side of the written photos in px")
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    check_writable_dir(args.out, "--out")                  # before any download
    with tempfile.TemporaryDirectory() as tmp:
        debs = download(PHOTOS, args.debs or Path(tmp) / "debs")
        sources = {}
        for package, photos in PHOTOS.items():
            root = Path(tmp) / package
            subprocess.run(["dpkg-deb", "-x", str(debs[package]), str(root)], check=True)
            version = deb_version(debs[package])
            for name, (inner, author, licence) in photos.items():
                with Image.open(root / inner) as img:
                    img = img.convert("RGB")
                    img.thumbnail((args.max_side, args.max_side), Image.LANCZOS)
                    part = args.out / f".{name}.jpg.tmp"
                    img.save(part, "JPEG", quality=92)
                    part.replace(args.out / f"{name}.jpg")
                sources[f"{name}.jpg"] = {"package": package, "version": version, "path": "/" + inner,
                                          "author": author, "license": licence, "size": list(img.size)}
                print(f"{name}.jpg  {img.size[0]}x{img.size[1]}  {package} {version}  {licence}")
    (args.out / "SOURCES.json").write_text(json.dumps(sources, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(sources)} photographs in {args.out} (sources and licences: {args.out / 'SOURCES.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
