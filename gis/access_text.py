"""Plain-text rendering of access reports for the terminal (Chinese labels)."""

from __future__ import annotations

from gis.access_store import AccessReport
from gis.coverage_text import pad

MODE_LABELS = {"walk": "步行", "straight": "直线"}
LEVEL_LABELS = {"city": "市", "district": "区", "street": "街道", "community": "社区"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:5.1f}%"


def format_access(reports: list[AccessReport], mode: str) -> str:
    """One line per region: residents, share within each band and within a centre's radius.

    Parameters
    ----------
    reports : list of AccessReport
        One per region, in the order to print.
    mode : {"walk", "straight"}
        Which distances the shares are of.
    """
    if not reports:
        return "没有区划数据"
    bands = list(reports[0].kpis[f"{mode}_band_shares"])
    head = (pad("区划", 26) + pad("代码", 14) + pad("人口", 9)
            + "".join(pad(f"≤{b} m", 9) for b in bands) + pad("半径内", 9) + "不可达")
    lines = [f"{MODE_LABELS[mode]}距离至最近党群服务中心（站）的居民占比", head]
    for r in reports:
        k = r.kpis
        name = f"{LEVEL_LABELS.get(r.region['level'] or '', '')} {r.region['name']}".strip()
        lines.append(
            pad(name, 26) + pad(r.region["code"] or "", 14) + pad(f"{k['residents']:,}", 9)
            + "".join(pad(_pct(k[f"{mode}_band_shares"][b]), 9) for b in bands)
            + pad(_pct(k[f"share_within_radius_{mode}"]), 9)
            + (f"{k['residents_unreachable']:,}" if mode == "walk" else "—"))
    run = reports[0].run
    if run:
        lines += ["", f"计算于 {run['computed_at'][:19]}：楼栋 {run['buildings']:,}，"
                      f"服务中心 {run['centers']:,}，路网边 {run['edges']:,}，"
                      f"用时 {run['seconds']:.2f} s"
                      + ("，计入规划服务站" if run.get("planned") else "")]
        if not run["edges"]:
            lines.append("没有步行路网：步行距离不可用（gridmap import network FILE）")
    flagged = reports[0].long_snaps
    if flagged:
        lines.append(f"离路网过远（已标记）：{len(flagged)} 处，例如 "
                     + "、".join(f"{f['name']} {f['snap_m']:.0f} m" for f in flagged[:5]))
    return "\n".join(lines)
