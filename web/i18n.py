"""Interface labels in Chinese (the default) and English.

Keys are flat and dotted (``layer.grids_party``, ``kind.residential``); a missing English label
falls back to the Chinese one, a missing key to the key itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from gis.coverage_text import (
    GAP_LABELS,
    KPI_COUNT_LABELS,
    OBJECT_TYPE_LABELS,
    SEVERITY_LABELS,
    SHARE_LABELS,
)

DEFAULT_LANG = "zh"

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "app.title": "gridmap 城市社区党建网格地图",
        "app.all_regions": "全部区域",
        "app.switch_lang": "English",
        "app.no_data": "数据库中还没有数据:请先运行 gridmap demo 或导入数据。",
        # layers (layer control and legend)
        "layer.streets": "街道边界",
        "layer.communities": "社区边界",
        "layer.grids_governance": "综治网格",
        "layer.grids_party": "党建网格",
        "layer.buildings": "楼栋",
        "layer.centers": "党群服务中心（站）",
        "layer.radius": "服务半径",
        "legend.title": "图例",
        "legend.building_kinds": "楼栋类型",
        "legend.center_levels": "党群服务中心（站）级别",
        # fields of popups and the KPI box
        "field.code": "编码",
        "field.name": "名称",
        "field.community": "社区",
        "field.street": "街道",
        "field.area_km2": "面积（km²）",
        "field.communities": "社区",
        "field.grids_governance": "综治网格",
        "field.grids_party": "党建网格",
        "field.buildings": "楼栋",
        "field.households": "户数",
        "field.residents": "人口",
        "field.heads": "网格长",
        "field.workers": "网格员",
        "field.branches": "党支部",
        "field.grid_layer": "网格类型",
        "field.kind": "类型",
        "field.form": "形态",
        "field.floors": "层数",
        "field.rental": "出租房",
        "field.grid": "所属网格",
        "field.party_groups": "楼栋党小组",
        "field.other_orgs": "楼宇党组织",
        "field.responsible": "责任党员",
        "field.level": "级别",
        "field.status": "状态",
        "field.floor_area": "面积",
        "field.radius": "服务半径",
        "field.centers": "服务中心（站）",
        # values
        "value.none": "无",
        "value.yes": "是",
        "value.no": "否",
        "value.part_time": "兼职",
        "value.norm": "按标准",
        "unit.m": "米",
        "unit.m2": "m²",
        "grid_layer.governance": "综治网格",
        "grid_layer.party": "党建网格",
        "kind.residential": "住宅楼",
        "kind.office": "商务楼宇",
        "kind.market": "商圈市场",
        "kind.park": "园区",
        "kind.public": "公共建筑",
        "kind.school": "学校",
        "kind.other": "其他",
        "form.slab": "板楼",
        "form.tower": "塔楼",
        "form.low_rise": "低层",
        "form.campus": "园区",
        "form.hall": "大厅",
        "level.street": "街道党群服务中心",
        "level.community": "社区党群服务中心",
        "level.grid": "网格党群服务站",
        "level.building": "楼宇党群服务站",
        "status.existing": "已建",
        "status.planned": "规划",
        "status.candidate": "候选",
        "region_level.city": "市",
        "region_level.district": "区",
        "region_level.street": "街道",
        "region_level.community": "社区",
        # the coverage page (gap kinds, KPIs, severities, object types: see _COVERAGE_ZH)
        "punct.colon": "：",
        "nav.map": "地图",
        "nav.coverage": "覆盖分析",
        "coverage.title": "覆盖分析",
        "coverage.kpis": "覆盖指标",
        "coverage.kpis_of_community": "指标为所在社区的",
        "coverage.counts": "基本情况",
        "coverage.gaps": "缺口清单",
        "coverage.gap_layers": "缺口",
        "coverage.no_gaps": "未发现缺口",
        "coverage.children": "下级区划",
        "coverage.grids": "网格",
        "coverage.recompute": "重新计算",
        "coverage.computing": "计算中…",
        "coverage.failed": "计算失败",
        "coverage.computed_at": "计算时间",
        "coverage.download": "下载缺口",
        "coverage.no_place": "无位置",
        "coverage.grid_only": "仅显示本网格的缺口",
        "coverage.show_all": "显示全社区",
        "coverage.status": "覆盖状态",
        "coverage.status_ok": "无缺口",
        "coverage.status_gap": "有缺口",
        "coverage.grid_gaps": "网格缺口（颜色示严重程度）",
        "coverage.gaps_here": "缺口",
        "coverage.click_row": "点击一行在地图上定位",
        "field.severity": "严重程度",
        "field.explanation": "说明",
        "field.remedy": "整改建议",
        "field.object": "对象",
        "field.gap_kind": "缺口类型",
    },
    "en": {
        "app.title": "gridmap — community party-building grid map",
        "app.all_regions": "All regions",
        "app.switch_lang": "中文",
        "app.no_data": "The database holds no data yet: run `gridmap demo` or import data first.",
        "layer.streets": "Street boundaries",
        "layer.communities": "Community boundaries",
        "layer.grids_governance": "Governance grids",
        "layer.grids_party": "Party grids",
        "layer.buildings": "Buildings",
        "layer.centers": "Service centres",
        "layer.radius": "Service radius",
        "legend.title": "Legend",
        "legend.building_kinds": "Building kinds",
        "legend.center_levels": "Service centre levels",
        "field.code": "Code",
        "field.name": "Name",
        "field.community": "Community",
        "field.street": "Street",
        "field.area_km2": "Area (km²)",
        "field.communities": "Communities",
        "field.grids_governance": "Governance grids",
        "field.grids_party": "Party grids",
        "field.buildings": "Buildings",
        "field.households": "Households",
        "field.residents": "Residents",
        "field.heads": "Grid head",
        "field.workers": "Grid workers",
        "field.branches": "Party branch",
        "field.grid_layer": "Grid layer",
        "field.kind": "Kind",
        "field.form": "Form",
        "field.floors": "Floors",
        "field.rental": "Rental",
        "field.grid": "Grid",
        "field.party_groups": "Building party group",
        "field.other_orgs": "Building party orgs",
        "field.responsible": "Responsible members",
        "field.level": "Level",
        "field.status": "Status",
        "field.floor_area": "Floor area",
        "field.radius": "Service radius",
        "field.centers": "Service centres",
        "value.none": "none",
        "value.yes": "yes",
        "value.no": "no",
        "value.part_time": "part-time",
        "value.norm": "norm",
        "unit.m": "m",
        "unit.m2": "m²",
        "grid_layer.governance": "governance grid",
        "grid_layer.party": "party grid",
        "kind.residential": "residential",
        "kind.office": "office tower",
        "kind.market": "market",
        "kind.park": "park / campus",
        "kind.public": "public building",
        "kind.school": "school",
        "kind.other": "other",
        "form.slab": "slab",
        "form.tower": "tower",
        "form.low_rise": "low-rise",
        "form.campus": "campus",
        "form.hall": "hall",
        "level.street": "street centre",
        "level.community": "community centre",
        "level.grid": "grid station",
        "level.building": "building station",
        "status.existing": "existing",
        "status.planned": "planned",
        "status.candidate": "candidate",
        "region_level.city": "city",
        "region_level.district": "district",
        "region_level.street": "street",
        "region_level.community": "community",
        "punct.colon": ": ",
        "nav.map": "Map",
        "nav.coverage": "Coverage",
        "coverage.title": "Coverage",
        "coverage.kpis": "Coverage KPIs",
        "coverage.kpis_of_community": "KPIs of the whole community",
        "coverage.counts": "Totals",
        "coverage.gaps": "Gaps",
        "coverage.gap_layers": "Gaps",
        "coverage.no_gaps": "No gaps found",
        "coverage.children": "Sub-regions",
        "coverage.grids": "Grids",
        "coverage.recompute": "Recompute",
        "coverage.computing": "Computing…",
        "coverage.failed": "Computation failed",
        "coverage.computed_at": "Computed at",
        "coverage.download": "Download gaps",
        "coverage.no_place": "no location",
        "coverage.grid_only": "Only this grid's gaps",
        "coverage.show_all": "Whole community",
        "coverage.status": "Coverage status",
        "coverage.status_ok": "no gap",
        "coverage.status_gap": "has gaps",
        "coverage.grid_gaps": "Grid gaps (colour: severity)",
        "coverage.gaps_here": "Gaps",
        "coverage.click_row": "Click a row to find it on the map",
        "field.severity": "Severity",
        "field.explanation": "Explanation",
        "field.remedy": "Remedy",
        "field.object": "Object",
        "field.gap_kind": "Gap kind",
        "gap.grid_hole": "Hole in the grid tiling",
        "gap.grid_overlap": "Overlapping grids",
        "gap.grid_outside_community": "Grid outside its community",
        "gap.building_no_grid": "Building in no grid",
        "gap.building_split": "Building split between grids",
        "gap.layer_mismatch": "Party and governance grids differ",
        "gap.grid_households_norm": "Grid households off the norm",
        "gap.grid_no_head": "Grid without a head",
        "gap.grid_no_worker": "Grid without a worker",
        "gap.grid_no_branch": "Grid without a party branch",
        "gap.building_no_group": "Building without a party group",
        "gap.unit_no_party_org": "Unit without a party organisation",
        "gap.unit_not_registered": "Unit not reported to the community",
        "gap.branch_size_rule": "Branch size rule broken",
        "gap.building_no_responsible": "Building without a responsible member",
        "gap.beyond_service_radius": "Beyond every service radius",
        "share.share_residents_in_grid": "Residents in a governance grid",
        "share.share_residents_in_party_grid": "Residents in a party grid",
        "share.share_grids_with_head": "Grids with a head",
        "share.share_grids_with_worker": "Grids with a worker",
        "share.share_party_grids_with_branch": "Party grids with a branch",
        "share.share_two_new_covered": "Towers, parks, markets covered",
        "share.share_residential_with_group": "Large buildings with a party group",
        "share.share_residential_with_responsible": "Buildings with a responsible member",
        "share.share_residents_within_radius": "Residents within a service radius",
        "kpi.buildings": "Buildings",
        "kpi.households": "Households",
        "kpi.residents": "Residents",
        "kpi.residents_in_governance_grid": "Residents in governance grids",
        "kpi.residents_in_party_grid": "Residents in party grids",
        "kpi.grids": "Governance grids",
        "kpi.grids_with_head": "Grids with a head",
        "kpi.grids_with_worker": "Grids with a worker",
        "kpi.party_grids": "Party grids",
        "kpi.party_grids_with_branch": "Party grids with a branch",
        "kpi.two_new_buildings": "Towers, parks, markets with units",
        "kpi.two_new_buildings_covered": "... all of whose units are covered",
        "kpi.residential_buildings": "Residential buildings",
        "kpi.residential_needing_group": "Residential buildings needing a group",
        "kpi.residential_with_group": "Residential buildings with a group",
        "kpi.residential_with_responsible": "Residential buildings with a responsible member",
        "kpi.residents_within_radius": "Residents within a service radius",
        "severity.high": "high",
        "severity.medium": "medium",
        "severity.low": "low",
        "object_type.community": "community",
        "object_type.grid": "grid",
        "object_type.building": "building",
        "object_type.unit": "unit",
        "object_type.party_org": "party organisation",
    },
}

# the coverage vocabulary in Chinese has one source, gis.coverage_text
LABELS["zh"].update({f"gap.{k}": v for k, v in GAP_LABELS.items()})
LABELS["zh"].update({f"share.{k}": v for k, v in SHARE_LABELS.items()})
LABELS["zh"].update({f"kpi.{k}": v for k, v in KPI_COUNT_LABELS.items()})
LABELS["zh"].update({f"severity.{k}": v for k, v in SEVERITY_LABELS.items()})
LABELS["zh"].update({f"object_type.{k}": v for k, v in OBJECT_TYPE_LABELS.items()})

LANGS = tuple(LABELS)


class Labels(Mapping[str, str]):
    """Labels of one language; ``labels["kind.office"]`` and ``labels.value("kind", "office")``.

    Parameters
    ----------
    lang : str
        ``zh`` or ``en``; anything else gives the default language.
    """

    def __init__(self, lang: str | None):
        self.lang = lang if lang in LABELS else DEFAULT_LANG
        self._own = LABELS[self.lang]
        self._fallback = LABELS[DEFAULT_LANG]

    def __getitem__(self, key: str) -> str:
        return self._own.get(key) or self._fallback.get(key) or key

    def __iter__(self):
        return iter(self._fallback)

    def __len__(self) -> int:
        return len(self._fallback)

    def value(self, group: str, code: str | None) -> str:
        """Translate a coded value (``group.code``); unknown codes are shown as they are."""
        if code is None:
            return self["value.none"]
        key = f"{group}.{code}"
        return self[key] if key in self._fallback else str(code)


def pick_lang(requested: str | None, default: str = DEFAULT_LANG) -> str:
    """Return ``requested`` if it is a supported language, else ``default``."""
    if requested in LABELS:
        return requested
    return default if default in LABELS else DEFAULT_LANG
