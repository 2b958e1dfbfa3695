"""Fill Solara's front-end proxy cache offline, from the npm registry.

Solara's page loads its JavaScript and CSS through a proxy to a CDN. On a machine that reaches only
package registries the CDN is unreachable and the page stays blank, so we fetch the same packages
with `npm pack` and unpack each into `<proxy_cache_dir>/<name>@<version>/`, the folder names Solara
asks for (vega packages are requested as version ranges, hence `vega@5/`).

Run as `python -m dashboards.assets` (the set-up does). Idempotent: a folder that holds a complete
unpack is left alone, so a second run takes milliseconds. Any failure exits non-zero with a message.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

# (npm spec to pack, folder name under the cache). Pinned to what solara 1.64.1 asks for.
PACKAGES: tuple[tuple[str, str], ...] = (
    ("@widgetti/solara-vuetify-app@10.1.1", "@widgetti/solara-vuetify-app@10.1.1"),
    ("@widgetti/solara-vuetify3-app@5.2.0", "@widgetti/solara-vuetify3-app@5.2.0"),
    ("@widgetti/vue-grid-layout@2.3.13-alpha.2", "@widgetti/vue-grid-layout@2.3.13-alpha.2"),
    ("font-awesome@4.5.0", "font-awesome@4.5.0"),
    ("requirejs@2.3.6", "requirejs@2.3.6"),
    ("mermaid@10.8.0", "mermaid@10.8.0"),
    ("katex@0.16.9", "katex@0.16.9"),  # solara.Markdown asks for its CSS and auto-render
    ("vega@5", "vega@5"),
    ("vega-lite@5", "vega-lite@5"),
    ("vega-embed@6", "vega-embed@6"),
    # Noto Sans SC (SIL OFL 1.1) for the Chinese labels on machines without CJK fonts
    ("@fontsource/noto-sans-sc@5.3.0", "@fontsource/noto-sans-sc@5.3.0"),
)
# Only these files of a package are kept (the font package holds every weight in woff and
# woff2, 75 MB; the regular weight in woff2 is 9 MB, split by Unicode range so a page fetches
# only the pieces its characters need).
KEEP: dict[str, tuple[str, ...]] = {
    "@fontsource/noto-sans-sc@5.3.0": ("LICENSE", "400.css", "files/*-400-normal.woff2"),
}
MARKER = ".scf-assets-complete"
# plotly.js for dashboards.plot: the copy plotly.py ships, under the folder name the npm registry
# and the CDN use for the same build (so an online machine without the copy still finds it).
PLOTLY_JS_PATH = "plotly.js-dist-min@4.1.1/plotly.min.js"


class AssetError(RuntimeError):
    """The cache could not be filled (npm missing, registry unreachable, bad tarball)."""


def cache_dir() -> Path:
    """Solara's proxy cache directory (honours SOLARA_ASSETS_PROXY_CACHE_DIR)."""
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def missing(root: Path) -> list[tuple[str, str]]:
    """The packages whose folder is absent or was not completely unpacked."""
    return [(spec, folder) for spec, folder in PACKAGES if not (root / folder / MARKER).is_file()]


def _npm_pack(specs: list[str], dest: Path) -> list[Path]:
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError("npm not found on PATH (install Node.js/npm: apt-get install -y npm)")
    proc = subprocess.run(
        [npm, "pack", *specs, "--json", "--pack-destination", str(dest)],
        capture_output=True,
        text=True,
        cwd=dest,
        timeout=600,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise AssetError(f"npm pack failed (exit {proc.returncode}): " + " | ".join(tail))
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssetError(f"npm pack printed no JSON: {proc.stdout[:200]!r}") from exc
    if len(info) != len(specs):
        raise AssetError(f"npm pack returned {len(info)} packages for {len(specs)} specs")
    return [dest / item["filename"] for item in info]


def _unpack(tgz: Path, target: Path, keep: tuple[str, ...] = ()) -> None:
    """Unpack `tgz` into `target`, stripping the leading `package/` folder, atomically; with
    `keep` (glob patterns), only the files that match one."""
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            members = []
            for m in tar.getmembers():
                parts = Path(m.name).parts
                if len(parts) < 2 or not (m.isfile() or m.isdir()):
                    continue
                m.name = str(Path(*parts[1:]))
                if keep and m.isfile() and not any(fnmatch.fnmatch(m.name, k) for k in keep):
                    continue
                members.append(m)
            if not members:
                raise AssetError(f"{tgz.name}: empty package")
            tar.extractall(tmp, members=members, filter="data")
        (tmp / MARKER).write_text(tgz.name + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_plotly_js(root: Path | None = None) -> Path:
    """Copy plotly.py's own plotly.min.js into the cache (no network); return its path."""
    root = Path(root) if root is not None else cache_dir()
    target = root / PLOTLY_JS_PATH
    if target.is_file():
        return target
    from importlib.resources import files

    import plotly.offline

    version = plotly.offline.get_plotlyjs_version()
    if f"@{version}/" not in PLOTLY_JS_PATH:
        raise AssetError(f"plotly.py ships plotly.js {version}; update PLOTLY_JS_PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_bytes((files("plotly") / "package_data" / "plotly.min.js").read_bytes())
    os.replace(tmp, target)
    return target


def ensure_assets(root: Path | None = None, verbose: bool = True) -> list[str]:
    """Make sure every front-end package is cached under `root`; return the folders filled."""
    root = Path(root) if root is not None else cache_dir()
    ensure_plotly_js(root)
    todo = missing(root)
    if not todo:
        return []
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scf-npm-") as work:
        tarballs = _npm_pack([spec for spec, _ in todo], Path(work))
        for (_, folder), tgz in zip(todo, tarballs, strict=True):
            target = root / folder
            target.parent.mkdir(parents=True, exist_ok=True)
            _unpack(tgz, target, KEEP.get(folder, ()))
            if verbose:
                print(f"assets: {folder} <- {tgz.name}")
    still = missing(root)
    if still:
        raise AssetError("still missing after unpack: " + ", ".join(f for _, f in still))
    return [folder for _, folder in todo]


def main() -> int:
    """Command-line entry: fill the cache, print what happened, exit 1 on failure."""
    t0 = time.perf_counter()
    root = cache_dir()
    try:
        filled = ensure_assets(root)
    except (AssetError, OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
        print(f"assets: FAILED to fill Solara's front-end cache at {root}: {exc}", file=sys.stderr)
        return 1
    state = f"filled {len(filled)} package(s)" if filled else "already complete"
    print(f"assets: {root} {state} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
