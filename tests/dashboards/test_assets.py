"""The offline front-end cache: idempotent, atomic unpacking, loud failures (no network)."""

from __future__ import annotations

import io
import tarfile

import pytest

from dashboards import assets


def _tgz(path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_packages_cover_what_solara_asks_for():
    folders = [f for _, f in assets.PACKAGES]
    for needed in (
        "@widgetti/solara-vuetify-app@10.1.1",
        "@widgetti/vue-grid-layout@2.3.13-alpha.2",
        "requirejs@2.3.6",
        "font-awesome@4.5.0",
        "vega@5",
        "vega-lite@5",
        "vega-embed@6",
    ):
        assert needed in folders


def test_unpack_strips_the_package_folder_and_marks_completion(tmp_path):
    tgz = tmp_path / "x-1.0.0.tgz"
    _tgz(tgz, {"package.json": b"{}", "dist/main.js": b"//js"})
    target = tmp_path / "cache" / "x@1.0.0"
    target.parent.mkdir()
    assets._unpack(tgz, target)
    assert (target / "dist" / "main.js").read_bytes() == b"//js"
    assert (target / assets.MARKER).is_file()
    assert not list(target.parent.glob(".unpack-*")), "no temporary folder left behind"


def test_complete_cache_needs_no_npm(tmp_path, monkeypatch):
    for _, folder in assets.PACKAGES:
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / assets.MARKER).write_text("x")
    monkeypatch.setattr(assets.shutil, "which", lambda _: None)
    assert assets.missing(tmp_path) == []
    assert assets.ensure_assets(tmp_path, verbose=False) == []


def test_half_unpacked_folder_counts_as_missing(tmp_path):
    spec, folder = assets.PACKAGES[0]
    (tmp_path / folder).mkdir(parents=True)  # no marker: an interrupted earlier run
    assert (spec, folder) in assets.missing(tmp_path)


def test_missing_npm_fails_loudly(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(assets.shutil, "which", lambda _: None)
    with pytest.raises(assets.AssetError, match="npm not found"):
        assets.ensure_assets(tmp_path, verbose=False)
    monkeypatch.setenv("SOLARA_ASSETS_PROXY_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(assets, "cache_dir", lambda: tmp_path)
    assert assets.main() == 1
    assert "FAILED" in capsys.readouterr().err


def test_plotly_js_comes_from_plotly_py_without_network(tmp_path, monkeypatch):
    import plotly.offline

    monkeypatch.setattr(assets.shutil, "which", lambda _: None)  # no npm needed
    path = assets.ensure_plotly_js(tmp_path)
    assert path == tmp_path / assets.PLOTLY_JS_PATH
    assert f"@{plotly.offline.get_plotlyjs_version()}/" in assets.PLOTLY_JS_PATH
    assert path.read_bytes().startswith(b"/**\n* plotly.js v")
    stamp = path.stat().st_mtime_ns
    assert assets.ensure_plotly_js(tmp_path) == path and path.stat().st_mtime_ns == stamp


def test_unpack_keeps_only_the_listed_files_of_the_font(tmp_path):
    tgz = tmp_path / "font.tgz"
    _tgz(tgz, {"LICENSE": b"OFL", "400.css": b"@font-face{}", "700.css": b"",
               "files/f-0-400-normal.woff2": b"w2", "files/f-0-400-normal.woff": b"w",
               "files/f-0-700-normal.woff2": b"b"})  # fmt: skip
    target = tmp_path / "cache" / "font@1"
    target.parent.mkdir()
    assets._unpack(tgz, target, assets.KEEP["@fontsource/noto-sans-sc@5.3.0"])
    kept = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert kept == [assets.MARKER, "400.css", "LICENSE", "files/f-0-400-normal.woff2"]
    assert "@fontsource/noto-sans-sc@5.3.0" in [f for _, f in assets.PACKAGES]
