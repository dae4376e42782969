"""sphinx-gallery helpers for the proxcore documentation (imported by ``docs/conf.py``)."""

import os
import pathlib
import shutil


class SavedFigures:
    """Scraper for the figures a tutorial saves with ``fig.savefig(OUT / ...)``.

    The tutorials save and close their figures (they also run as plain
    scripts), so matplotlib's own scraper finds nothing open. After each code
    block this one copies the PNGs that appeared (or changed) in
    ``PROXCORE_TUTORIAL_OUT`` into the gallery, in the order of their names.
    """

    def __init__(self):
        self.seen = {}

    def __repr__(self):  # sphinx-gallery hashes its configuration by repr
        return "SavedFigures"

    def __call__(self, block, block_vars, gallery_conf):
        from sphinx_gallery.scrapers import figure_rst

        out = pathlib.Path(os.environ["PROXCORE_TUTORIAL_OUT"])
        new = []
        for png in sorted(out.glob("*.png")):
            stamp = png.stat().st_mtime_ns
            if self.seen.get(png.name) != stamp:
                self.seen[png.name] = stamp
                new.append(png)
        paths = []
        for png, target in zip(new, block_vars["image_path_iterator"]):
            shutil.copyfile(png, target)
            paths.append(target)
        return figure_rst(paths, gallery_conf["src_dir"])
