"""What each importable layer holds: its fields, their Chinese headers and accepted aliases.

This table is the single source of the column names that go in and out of gridmap: the importers
map a file's headers onto these fields (Chinese or English, see :func:`resolve_columns`), the
exporters write the ``label`` as the header (and ``short`` as a Shapefile field name, ≤ 10
bytes), so an exported file imports again unchanged.

A field's ``name`` is the column of the layer's table, or for references the code of the row it
points at (``community_code``, ``building_code``, ``grid_code``, ``org_code``, ``member_code``):
the importer resolves those codes to ids and names the row when one does not resolve.

Examples
--------
>>> from gis.io.schema import LAYERS, resolve_columns
>>> resolve_columns(["楼栋编码", "户数", "常住人口", "层数", "备注"], "buildings").mapping
{'楼栋编码': 'code', '户数': 'households', '常住人口': 'residents', '层数': 'floors'}
>>> LAYERS["centers"].field("level").parse("社区级")
'community'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "COORDINATE_ALIASES",
    "LAYERS",
    "ColumnMapping",
    "Field",
    "LayerSpec",
    "SchemaError",
    "load_mapping_file",
    "normalize_header",
    "resolve_columns",
]


class SchemaError(ValueError):
    """A file's columns do not fit the layer (the message names the field and its headers)."""


_TRUE = ("true", "1", "yes", "y", "t", "是", "有", "√", "✓", "已报到", "已", "x")
_FALSE = ("false", "0", "no", "n", "f", "否", "无", "未", "未报到", "")


@dataclass(frozen=True)
class Field:
    """One field of a layer.

    Parameters
    ----------
    name : str
        Column in the table, or ``*_code`` for a reference resolved by the importer.
    label : str
        Chinese header written on export (and accepted on import).
    kind : {'text', 'int', 'float', 'bool', 'choice'}
    short : str
        ASCII Shapefile field name, at most 10 bytes.
    required : bool
        An import without this column (or with an empty cell) is refused.
    aliases : tuple of str
        Other headers accepted on import (compared after :func:`normalize_header`).
    choices : mapping, optional
        For ``kind='choice'``: accepted value (English code, Chinese label or synonym) → code.
    """

    name: str
    label: str
    kind: str
    short: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: Mapping[str, str] | None = None

    def headers(self) -> tuple[str, ...]:
        """Every header this field is recognised by, the label first."""
        return (self.label, self.name, self.short, *self.aliases)

    def parse(self, value: object) -> object:
        """Turn a cell into the stored value; ``None`` for an empty cell.

        Raises
        ------
        ValueError
            The cell cannot be read as this field (the message says what was expected).
        """
        if value is None or (isinstance(value, float) and value != value):
            return None
        text = str(value).strip()
        if text == "" or text.lower() in ("nan", "none", "null"):
            return None
        if self.kind == "text":
            return text
        if self.kind == "int":
            try:
                number = float(text.replace(",", ""))
            except ValueError:
                raise ValueError(f"{text!r} is not a whole number") from None
            if number != int(number):
                raise ValueError(f"{text!r} is not a whole number")
            return int(number)
        if self.kind == "float":
            try:
                return float(text.replace(",", ""))
            except ValueError:
                raise ValueError(f"{text!r} is not a number") from None
        if self.kind == "bool":
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(f"{text!r} is not yes/no (是/否)")
        if self.kind == "choice":
            assert self.choices is not None
            key = normalize_header(text)
            for accepted, code in self.choices.items():
                if normalize_header(accepted) == key:
                    return code
            shown = "、".join(dict.fromkeys(self.labels().values()))
            raise ValueError(f"{text!r} is not one of {shown}")
        raise AssertionError(self.kind)

    def labels(self) -> dict[str, str]:
        """For a choice field: code → the Chinese label written on export."""
        out: dict[str, str] = {}
        for accepted, code in (self.choices or {}).items():
            if re.search(r"[\u4e00-\u9fff]", accepted) and code not in out:
                out[code] = accepted
        return out


@dataclass(frozen=True)
class LayerSpec:
    """An importable layer: its table, key, geometry and fields.

    Parameters
    ----------
    name : str
        Layer name of the CLI (``gridmap import LAYER``).
    label : str
        Chinese name of the layer (sheet name of a ledger).
    table : str
        Table written by the importer.
    key : tuple of str
        Fields that find the row a re-import updates (``code`` where the layer has one).
    geometry : {'polygon', 'point', None}
        Geometry type stored (``None``: no geometry; a point may still place the row).
    geometry_required : bool
    fields : tuple of Field
    """

    name: str
    label: str
    table: str
    key: tuple[str, ...]
    geometry: str | None
    geometry_required: bool
    fields: tuple[Field, ...] = field(default_factory=tuple)

    def field(self, name: str) -> Field:
        """The field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"layer {self.name} has no field {name!r}")

    @property
    def required(self) -> tuple[Field, ...]:
        """The fields an import must have."""
        return tuple(f for f in self.fields if f.required)


def _choices(pairs: Iterable[tuple[str, Iterable[str]]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, accepted in pairs:
        out[code] = code
        for a in accepted:
            out[a] = code
    return out


_CODE = ("编码", "代码", "编号", "code", "id", "区划代码", "统计用区划代码")
_NAME = ("名称", "name", "名字")
_PHONE = ("电话", "联系电话", "手机", "手机号", "手机号码", "phone", "tel", "mobile")

REGION_LEVELS = _choices([
    ("city", ("市", "地级市", "城市")),
    ("district", ("区", "县", "区县", "县区", "市辖区")),
    ("street", ("街道", "乡镇", "镇", "乡", "街道办事处")),
    ("community", ("社区", "居委会", "村", "社区居委会", "村委会")),
])
GRID_LAYERS = _choices([
    ("governance", ("综治网格", "社会治理网格", "治理网格", "网格")),
    ("party", ("党建网格", "党建")),
])
BUILDING_KINDS = _choices([
    ("residential", ("住宅", "居民楼", "居住", "住宅楼", "小区")),
    ("office", ("办公", "写字楼", "商务楼宇", "楼宇", "办公楼")),
    ("market", ("商业", "市场", "商场", "商铺", "农贸市场")),
    ("park", ("公园", "广场", "绿地")),
    ("public", ("公共", "公建", "公共服务", "公共建筑", "机关", "医院")),
    ("school", ("学校", "教育", "幼儿园")),
    ("other", ("其他", "其它")),
])
BUILDING_FORMS = _choices([
    ("slab", ("板楼", "板式")),
    ("tower", ("塔楼", "塔式", "高层")),
    ("low_rise", ("低层", "平房", "多层")),
    ("campus", ("园区", "大院")),
    ("hall", ("厅堂", "大厅", "场馆")),
])
CENTER_LEVELS = _choices([
    ("street", ("街道", "街道级", "街道党群服务中心")),
    ("community", ("社区", "社区级", "社区党群服务中心")),
    ("grid", ("网格", "网格级", "网格党群服务站", "小区")),
    ("building", ("楼栋", "楼宇", "楼栋级", "楼宇级", "楼宇党群服务站")),
])
CENTER_STATUSES = _choices([
    ("existing", ("现有", "已建", "在用", "已建成")),
    ("planned", ("规划", "拟建", "计划")),
    ("candidate", ("候选", "备选", "候选点")),
])
UNIT_KINDS = _choices([
    ("organ", ("机关", "党政机关")),
    ("institution", ("事业单位", "事业")),
    ("state_owned", ("国有企业", "国企", "国有")),
    ("nonpublic", ("非公企业", "民营企业", "私营企业", "非公有制企业", "企业")),
    ("social_org", ("社会组织", "社团", "民办非企业")),
    ("other", ("其他", "其它")),
])
MEMBER_CATEGORIES = _choices([
    ("registered", ("在册", "社区在册党员", "在册党员", "社区党员")),
    ("reporting", ("报到", "在职党员", "在职党员进社区报到", "报到党员", "双报到")),
    ("floating", ("流动", "流动党员")),
    ("retired", ("离退休", "退休", "离退休党员", "退休党员")),
    ("nonpublic", ("非公", "非公经济组织党员", "两新组织党员", "非公党员")),
])
STAFF_ROLES = _choices([
    ("head", ("网格长", "组长")),
    ("full_time", ("专职网格员", "专职", "网格员")),
    ("part_time", ("兼职网格员", "兼职")),
])
LEDGER_LISTS = _choices([
    ("need", ("需求", "需求清单", "群众需求")),
    ("resource", ("资源", "资源清单")),
    ("project", ("项目", "项目清单")),
])
LEDGER_STATUSES = _choices([
    ("open", ("待办", "未开始", "待认领", "未完成")),
    ("in_progress", ("进行中", "办理中", "推进中")),
    ("done", ("已完成", "完成", "办结", "已办结")),
])

F = Field
LAYERS: dict[str, LayerSpec] = {spec.name: spec for spec in (
    LayerSpec("regions", "行政区划", "regions", ("code",), "polygon", False, (
        F("code", "区划代码", "text", "code", True, _CODE),
        F("name", "名称", "text", "name", True, (*_NAME, "区划名称", "社区名称", "街道名称")),
        F("level", "级别", "choice", "level", False, ("层级", "类型", "level"), REGION_LEVELS),
        F("parent_code", "上级代码", "text", "parent", False,
          ("上级区划代码", "父级代码", "parent")),
    )),
    LayerSpec("grids", "网格", "grids", ("layer", "code"), "polygon", True, (
        F("code", "网格编码", "text", "code", True, (*_CODE, "网格代码", "网格编号")),
        F("name", "网格名称", "text", "name", True, _NAME),
        F("layer", "网格类型", "choice", "layer", False, ("类型", "图层", "layer", "type"),
          GRID_LAYERS),
        F("community_code", "社区代码", "text", "community", False,
          ("社区编码", "所属社区代码", "community")),
    )),
    LayerSpec("buildings", "楼栋", "buildings", ("code",), "polygon", True, (
        F("code", "楼栋编码", "text", "code", False,
          (*_CODE, "楼栋编号", "建筑编码", "building_id")),
        F("name", "楼栋名称", "text", "name", False, (*_NAME, "楼栋", "楼名", "地址")),
        F("community_code", "社区代码", "text", "community", False,
          ("社区编码", "所属社区代码", "community")),
        F("kind", "类型", "choice", "kind", False, ("建筑类型", "用途", "类别", "kind", "type"),
          BUILDING_KINDS),
        F("form", "形态", "choice", "form", False, ("建筑形态", "form"), BUILDING_FORMS),
        F("households", "户数", "int", "households", False,
          ("常住户数", "住户数", "hh", "households", "户")),
        F("residents", "常住人口", "int", "residents", False,
          ("人口", "人数", "居民人数", "常住人数", "population", "pop", "residents")),
        F("migrant_households", "流动户数", "int", "mig_hh", False, ("流动人口户数",)),
        F("migrant_residents", "流动人口", "int", "mig_pop", False, ("流动人口数", "流动人数")),
        F("floors", "层数", "int", "floors", False,
          ("楼层", "楼层数", "地上层数", "levels", "building:levels", "floors")),
        F("is_rental", "出租屋", "bool", "rental", False, ("是否出租屋", "出租", "rental")),
    )),
    LayerSpec("centers", "党群服务中心", "service_centers", ("code",), "point", True, (
        F("code", "编码", "text", "code", False, _CODE),
        F("name", "名称", "text", "name", True, (*_NAME, "阵地名称", "中心名称", "站点名称")),
        F("level", "级别", "choice", "level", True, ("层级", "类型", "level"), CENTER_LEVELS),
        F("status", "状态", "choice", "status", False, ("建设状态", "status"), CENTER_STATUSES),
        F("floor_area_m2", "面积", "float", "area_m2", False,
          ("建筑面积", "使用面积", "面积平方米", "floor_area", "area")),
        F("region_code", "区划代码", "text", "region", False,
          ("所属区划代码", "社区代码", "region")),
        F("building_code", "楼栋编码", "text", "building", False, ("所在楼栋编码", "building")),
        F("radius_m", "服务半径", "float", "radius_m", False, ("服务半径米", "半径", "radius")),
    )),
    LayerSpec("units", "驻区单位", "units", ("code",), "point", False, (
        F("code", "统一社会信用代码", "text", "code", False, (*_CODE, "信用代码", "单位编码")),
        F("name", "单位名称", "text", "name", True, (*_NAME, "单位")),
        F("kind", "单位类型", "choice", "kind", False, ("类型", "性质", "单位性质", "kind"),
          UNIT_KINDS),
        F("building_code", "楼栋编码", "text", "building", False, ("所在楼栋编码", "building")),
        F("org_code", "党组织编码", "text", "org", False, ("所属党组织编码",)),
        F("registered", "双报到", "bool", "registered", False, ("是否报到", "已报到", "报到")),
        F("member_count", "党员数", "int", "members", False, ("党员人数", "党员数量")),
        F("employees", "职工数", "int", "employees", False, ("职工人数", "员工数", "从业人员")),
        F("resources", "资源", "text", "resources", False, ("可提供资源", "资源清单", "resources")),
        F("offers_space", "提供场地", "bool", "space", False, ("可提供场地", "是否提供场地")),
    )),
    LayerSpec("members", "党员", "members", ("code",), None, False, (
        F("code", "党员编号", "text", "code", False, (*_CODE,)),
        F("name", "姓名", "text", "name", True, (*_NAME, "党员姓名")),
        F("phone", "联系电话", "text", "phone", False, _PHONE),
        F("category", "党员类别", "choice", "category", True, ("类别", "类型", "category"),
          MEMBER_CATEGORIES),
        F("org_code", "党组织编码", "text", "org", False, ("所在党组织编码", "支部编码")),
        F("home_building_code", "居住楼栋编码", "text", "home", False,
          ("楼栋编码", "住址楼栋编码")),
        F("is_demonstration_post", "党员示范岗", "bool", "demo_post", False, ("示范岗",)),
        F("is_probationary", "预备党员", "bool", "probation", False, ("是否预备党员",)),
    )),
    LayerSpec("staff", "网格员", "grid_staff", ("code",), None, False, (
        F("code", "人员编号", "text", "code", False, (*_CODE, "网格员编号")),
        F("grid_code", "网格编码", "text", "grid", True, ("所属网格编码", "网格代码", "grid")),
        F("role", "职务", "choice", "role", True, ("岗位", "角色", "类别", "role"), STAFF_ROLES),
        F("name", "姓名", "text", "name", True, (*_NAME, "网格员姓名")),
        F("phone", "联系电话", "text", "phone", False, _PHONE),
        F("member_code", "党员编号", "text", "member", False, ()),
    )),
    LayerSpec("ledger", "三张清单", "ledger_items", ("code",), None, False, (
        F("code", "编号", "text", "code", False, (*_CODE,)),
        F("list", "清单", "choice", "list", True, ("清单类型", "类别", "list"), LEDGER_LISTS),
        F("region_code", "区划代码", "text", "region", True,
          ("社区代码", "所属区划代码", "region")),
        F("title", "事项", "text", "title", True, ("名称", "标题", "事项名称", "title")),
        F("description", "内容", "text", "descr", False, ("说明", "描述", "详情", "description")),
        F("status", "状态", "choice", "status", False, ("办理状态", "进度", "status"),
          LEDGER_STATUSES),
    )),
)}
del F

# coordinate columns of CSV / XLSX files (compared after normalize_header)
COORDINATE_ALIASES: dict[str, tuple[str, ...]] = {
    "lon": ("经度", "lng", "lon", "long", "longitude", "x", "x坐标", "东经", "point_x"),
    "lat": ("纬度", "lat", "latitude", "y", "y坐标", "北纬", "point_y"),
    "wkt": ("wkt", "geometry", "geom", "几何", "图形", "the_geom", "shape"),
}


def normalize_header(text: object) -> str:
    """A header as compared: trimmed, lower case, no spaces, underscores, BOM or unit suffix.

    Examples
    --------
    >>> normalize_header(" 面积（㎡）")
    '面积'
    >>> normalize_header("Floor_Area (m2)")
    'floorarea'
    """
    s = str(text).replace("\ufeff", "").strip().lower()
    s = re.sub(r"[（(][^）)]*[）)]\s*$", "", s)
    return re.sub(r"[\s_\-:：/]+", "", s)


@dataclass(frozen=True)
class ColumnMapping:
    """How a file's headers map onto a layer's fields.

    Attributes
    ----------
    mapping : dict
        Source header → field name, in the file's column order.
    ignored : tuple of str
        Headers that are neither a field nor a coordinate column (kept out, reported).
    """

    mapping: dict[str, str]
    ignored: tuple[str, ...]


def resolve_columns(headers: Iterable[object], layer: str,
                    mapping: Mapping[str, str] | None = None, *,
                    extra: Iterable[str] = ()) -> ColumnMapping:
    """Map a file's headers onto the fields of ``layer``.

    Parameters
    ----------
    headers : iterable
        The file's column headers, in order (the geometry column excluded).
    layer : str
        A key of :data:`LAYERS`.
    mapping : mapping, optional
        Explicit header → field name (a mapping file); wins over the built-in aliases.
    extra : iterable of str
        Headers the caller uses itself (coordinate columns): neither mapped nor reported.

    Raises
    ------
    SchemaError
        Unknown layer, a mapping to a field the layer has not, two headers for one field, or a
        required field missing (the message names the field, its Chinese header and the headers
        accepted for it).
    """
    if layer not in LAYERS:
        raise SchemaError(f"unknown layer {layer!r}; one of {', '.join(LAYERS)}")
    spec = LAYERS[layer]
    explicit = {normalize_header(k): v for k, v in (mapping or {}).items()}
    names = {f.name for f in spec.fields}
    for source, target in explicit.items():
        if target not in names:
            raise SchemaError(f"mapping {source!r} → {target!r}: layer {layer} has no field "
                              f"{target!r} (fields: {', '.join(sorted(names))})")
    known: dict[str, str] = {}
    for f in spec.fields:  # a field's own header and name beat other fields' aliases
        for h in (f.label, f.name):
            known.setdefault(normalize_header(h), f.name)
    for f in spec.fields:
        for h in f.headers():
            known.setdefault(normalize_header(h), f.name)
    skip = {normalize_header(h) for h in extra}
    out: dict[str, str] = {}
    ignored: list[str] = []
    seen: dict[str, str] = {}
    for header in headers:
        key = normalize_header(header)
        target = explicit.get(key) or known.get(key)
        if target is None:
            if key not in skip:
                ignored.append(str(header))
            continue
        if target in seen:
            raise SchemaError(f"columns {seen[target]!r} and {header!r} both give "
                              f"{spec.field(target).label} ({target}); keep one or map one "
                              f"elsewhere in a mapping file")
        seen[target] = str(header)
        out[str(header)] = target
    for f in spec.required:
        if f.name not in seen:
            accepted = "、".join(dict.fromkeys((f.label, *f.aliases, f.name)))
            raise SchemaError(f"missing column {f.label} ({f.name}) for layer {layer}; "
                              f"headers accepted: {accepted}")
    return ColumnMapping(out, tuple(ignored))


def load_mapping_file(path: str | Path) -> dict[str, str]:
    """Read a mapping file: JSON ``{"file header": "field"}`` or CSV lines ``header,field``.

    Raises
    ------
    SchemaError
        Unreadable file or a line that is not two columns.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: cannot read the mapping file ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"{path}: not JSON ({exc})") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise SchemaError(f"{path}: expected an object of header → field name")
        return {str(k): v for k, v in data.items()}
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in re.split(r"[,\t，]", line)]
        if len(parts) != 2 or not all(parts):
            raise SchemaError(f"{path}: line {number} is not 'header,field'")
        out[parts[0]] = parts[1]
    return out
