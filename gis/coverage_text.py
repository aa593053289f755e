"""Chinese labels of coverage reports, and their plain-text rendering for the terminal.

The labels here are the single source of the Chinese names of gap kinds, KPIs, severities and
object types: the CLI, the exports (:mod:`gis.io.export`) and the web pages (:mod:`web.i18n`)
all take them from this module.
"""

from __future__ import annotations

import unicodedata

from gis.coverage import KPI_SHARES, CoverageReport

GAP_LABELS = {
    "grid_hole": "网格空白区", "grid_overlap": "网格重叠", "grid_outside_community": "网格超出社区",
    "building_no_grid": "楼栋未入网格", "building_split": "楼栋跨网格",
    "layer_mismatch": "党建网格与综治网格不重合", "grid_households_norm": "网格户数不合标准",
    "grid_no_head": "网格无网格长", "grid_no_worker": "网格无网格员",
    "grid_no_branch": "网格无党支部", "building_no_group": "楼栋无党小组",
    "unit_no_party_org": "单位无党组织覆盖", "unit_not_registered": "单位未双报到",
    "branch_size_rule": "支部设置不合规", "building_no_responsible": "楼栋无党员责任区",
    "beyond_service_radius": "超出服务半径",
}
SHARE_LABELS = {
    "share_residents_in_grid": "居民在综治网格内",
    "share_residents_in_party_grid": "居民在党建网格内",
    "share_grids_with_head": "网格有网格长", "share_grids_with_worker": "网格有网格员",
    "share_party_grids_with_branch": "党建网格建支部",
    "share_two_new_covered": "楼宇/园区/市场党组织覆盖",
    "share_residential_with_group": "大楼栋建党小组", "share_residential_with_responsible":
    "楼栋有责任党员", "share_residents_within_radius": "居民在服务半径内",
}

KPI_COUNT_LABELS = {
    "buildings": "楼栋", "households": "户数", "residents": "人口",
    "residents_in_governance_grid": "综治网格内人口", "residents_in_party_grid": "党建网格内人口",
    "grids": "综治网格", "grids_with_head": "有网格长的网格", "grids_with_worker": "有网格员的网格",
    "party_grids": "党建网格", "party_grids_with_branch": "建有支部的党建网格",
    "two_new_buildings": "有驻区单位的楼宇/园区/市场",
    "two_new_buildings_covered": "党组织全覆盖的楼宇/园区/市场",
    "residential_buildings": "住宅楼", "residential_needing_group": "应建党小组的住宅楼",
    "residential_with_group": "已建党小组的住宅楼",
    "residential_with_responsible": "有责任党员的住宅楼",
    "residents_within_radius": "服务半径内人口",
}
SEVERITY_LABELS = {"high": "高", "medium": "中", "low": "低"}
OBJECT_TYPE_LABELS = {"community": "社区", "grid": "网格", "building": "楼栋", "unit": "单位",
                      "party_org": "党组织"}
LAYER_LABELS = {"governance": "综治网格", "party": "党建网格"}


def pad(text: str, width: int) -> str:
    """Pad to ``width`` terminal columns, counting CJK characters as two."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - used, 1)


def format_report(report: CoverageReport) -> str:
    """Render KPIs, gap counts and gap explanations as aligned text."""
    k = report.kpis
    region = report.region
    lines = [f"{region['name']} {region['code'] or ''}".strip(),
             f"楼栋 {k['buildings']:,}  户数 {k['households']:,}  人口 {k['residents']:,}  "
             f"网格 {k['grids']:,}（党建网格 {k['party_grids']:,}）", ""]
    for name in KPI_SHARES:
        share = k[name]
        lines.append(f"  {pad(SHARE_LABELS[name], 28)}{'—' if share is None else f'{share:6.1%}'}")
    lines.append("服务半径按" + ("步行路网距离" if report.distance_mode == "walk" else "直线距离")
                 + "计算" + ("，计入规划服务站" if report.planned else ""))
    lines.append("")
    lines.append("缺口：" + ("无" if not report.gaps else ""))
    for kind, n in k["gap_counts"].items():
        if n:
            lines.append(f"  {pad(GAP_LABELS[kind], 28)}{n:>6}")
    lines.append("")
    for gap in report.gaps:
        layer = {"party": "[党建] ", "governance": "[综治] "}.get(gap["layer"], "")
        lines.append(f"- {layer}{gap['explanation']}")
    return "\n".join(lines)
