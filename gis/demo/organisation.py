"""Party organisations, members, grid staff, units and the three lists of the demo district.

The rules of the seeds hold everywhere except where a defect is planted on purpose (see
``PLANTED``): every grid has a head, a worker and a branch; every residential building of
``building_group_min_households`` or more has a building party group; every unit has its own
party org (≥ 3 members) or is in a joint one (联合党支部, ≤ 5 units); branches have ≥ 3 members
and a committee from 7; every residential building has a responsible member.
"""

from __future__ import annotations

import numpy as np

from gis.config import Norms
from gis.demo import district as dd
from gis.demo import names
from gis.demo.build import DemoData, official_names

# planted organisational defects: (community, cell index) or names
NO_HEAD = ("530103001001", 2)
NO_WORKER = ("530103001002", 4)
NO_BRANCH = ("530103001001", 3)  # party grid without a grid branch
NO_GROUP = "530103002004"  # its two largest residential buildings get no building group
NO_RESPONSIBLE = "530103001002"  # three residential buildings nobody is responsible for
NO_ORG_TOWER = "530103001001"  # its office tower's units: no own org, no joint org
NOT_REGISTERED = "530103002002"  # two of its units with their own org have not reported
SMALL_BRANCH = "530103002005"  # a unit branch with 2 members that is not a joint branch
NO_COMMITTEE = "530103002002"  # its retired branch has 9 members and no committee

BRANCH_KINDS = ("community_branch", "grid_branch", "building_court_branch", "tower_org",
                "joint_branch", "retired_branch", "floating_branch", "nonpublic_branch",
                "unit_branch")
JOINT_KINDS = ("joint_branch", "tower_org")


class _Org:
    """Small helper that adds orgs and their members to the demo rows."""

    def __init__(self, data: DemoData, rng: np.random.Generator):
        self.data, self.rng = data, rng

    def org(self, kind: str, name: str, parent: dict | None, region: str, *, grid=None,
            building=None) -> dict:
        return self.data.add("party_orgs", {
            "code": None, "kind": kind, "name": name, "parent_id": parent["id"] if parent else None,
            "region_code": region, "grid_id": grid["id"] if grid else None,
            "building_id": building["id"] if building else None, "has_committee": False,
            "secretary": None})

    def members(self, org: dict, n: int, category: str, homes: list[dict] | None,
                *, committee: bool | None = None) -> list[dict]:
        rng = self.rng
        people = names.person_names(rng, n)
        phones = names.phones(rng, n)
        out = []
        for k in range(n):
            home = homes[int(rng.integers(len(homes)))] if homes else None
            out.append(self.data.add("members", {
                "name": people[k], "phone": phones[k], "category": category,
                "org_id": org["id"], "home_building_id": home["id"] if home else None,
                "is_demonstration_post": bool(rng.random() < 0.12),
                "is_probationary": bool(n >= 12 and k >= n - 2 and rng.random() < 0.5)}))
        org["has_committee"] = (n >= 7) if committee is None else committee
        org["secretary"] = people[0] if n else None
        return out


def add_organisation(data: DemoData, rng: np.random.Generator, norms: Norms) -> None:
    """Party orgs, members, responsibility areas, grid staff, units and ledger items."""
    o = _Org(data, rng)
    region_names = official_names()
    buildings = data.tables["buildings"]
    party_grids = {(g["community_code"], g["cell"]): g for g in data.tables["grids"]
                   if g["layer"] == "party"}
    street_orgs = {}
    for spec in dd.COMMUNITIES:
        if spec.street not in street_orgs:
            street_orgs[spec.street] = o.org("street_working_committee",
                                             f"{region_names[spec.street]}党工委", None,
                                             spec.street)
    for spec in dd.COMMUNITIES:
        cname = region_names[spec.code]
        homes = [b for b in buildings if b["community_code"] == spec.code
                 and b["kind"] == "residential"]
        rentals = [b for b in buildings if b["community_code"] == spec.code and b["is_rental"]]
        top_kind = "community_general_branch" if spec.code == dd.TAOYUAN else "community_committee"
        top = o.org(top_kind, f"{cname}{'党总支' if spec.code == dd.TAOYUAN else '党委'}",
                    street_orgs[spec.street], spec.code)
        grid_branch = _grid_branches(o, spec, cname, top, homes, party_grids)
        _building_groups(o, spec, homes, grid_branch, party_grids, norms)
        retired = o.org("retired_branch", f"{cname}离退休党支部", top, spec.code)
        o.members(retired, 9 if spec.code == NO_COMMITTEE else int(rng.integers(8, 16)),
                  "retired", homes, committee=False if spec.code == NO_COMMITTEE else None)
        if spec.code == dd.TAOYUAN or spec.street == "530103001000":
            floating = o.org("floating_branch", f"{cname}流动党员党支部", top, spec.code)
            o.members(floating, int(rng.integers(5, 10)), "floating", rentals or homes)
        if spec.code == dd.TAOYUAN:
            branch = o.org("community_branch", f"{cname}社区党员党支部", top, spec.code)
            o.members(branch, int(rng.integers(12, 18)), "registered", homes)
        _units(o, spec, cname, top)
        _responsibility(data, spec, homes + [b for b in rentals if b not in homes], rng)
        _staff(o, spec, homes)
        _ledger(data, spec, cname, rng)


def _grid_branches(o: _Org, spec, cname: str, top: dict, homes: list[dict],
                   party_grids: dict) -> dict[int, dict]:
    """One branch per party grid (楼院党支部 in 桃源, 网格党支部 elsewhere), by cell."""
    out: dict[int, dict] = {}
    for i in range(spec.nx * spec.ny):
        grid = party_grids.get((spec.code, i))
        if grid is None or (spec.code, i) == NO_BRANCH:
            continue
        kind = "building_court_branch" if spec.code == dd.TAOYUAN else "grid_branch"
        label = "楼院党支部" if spec.code == dd.TAOYUAN else "网格党支部"
        branch = o.org(kind, f"{cname}第{i + 1}{label}", top, spec.code, grid=grid)
        cell_homes = [b for b in homes if b["cell"] == i] or homes
        o.members(branch, int(o.rng.integers(8, 22)), "registered", cell_homes)
        out[i] = branch
    return out


def _building_groups(o: _Org, spec, homes, grid_branch, party_grids, norms: Norms) -> None:
    big = [b for b in homes if b["households"] >= norms.building_group_min_households]
    skip = set()
    if spec.code == NO_GROUP:
        skip = {b["id"] for b in sorted(big, key=lambda b: -b["households"])[:2]}
    merged_into = dd.MERGED_PARTY[1] if spec.code == dd.MERGED_PARTY[0] else None
    for b in big:
        if b["id"] in skip:
            continue
        cell = b["cell"]
        if cell == dd.MERGED_PARTY[2] and merged_into is not None:
            cell = merged_into
        # in the grid without a branch the group has no parent branch yet
        o.org("building_group", f"{b['name']}党小组", grid_branch.get(cell), spec.code,
              building=b)


def _units(o: _Org, spec, cname: str, top: dict) -> None:
    """Units of the community's public buildings, with their own or a joint party org."""
    rng = o.rng
    hosts = [b for b in o.data.tables["buildings"] if b["community_code"] == spec.code
             and b["attrs"].get("units")]
    small: dict[int, list[dict]] = {}  # host building id → units with < 3 members
    firm_names = iter(rng.permutation(names.FIRMS).tolist() * 3)
    organ_names = iter(rng.permutation(names.ORGANS).tolist() * 3)
    not_registered_left = 2 if spec.code == NOT_REGISTERED else 0
    small_branch_left = 1 if spec.code == SMALL_BRANCH else 0
    for b in hosts:
        for _ in range(b["attrs"]["units"]):
            if b["kind"] in ("office", "market", "park"):
                kind = "nonpublic" if rng.random() < 0.85 else "social_org"
                uname = next(firm_names) + ("有限公司" if kind == "nonpublic" else "服务社")
                members = int(rng.integers(0, 6))
            else:
                kind = "institution" if b["kind"] == "school" else str(
                    rng.choice(["organ", "institution", "state_owned"]))
                uname = cname.removesuffix("社区") + next(organ_names)
                members = int(rng.integers(3, 12))
            unit = o.data.add("units", {
                "name": uname, "kind": kind, "building_id": b["id"], "party_org_id": None,
                "joint_org_id": None, "registered": True, "member_count": members,
                "employees": int(rng.integers(8, 200)),
                "resources": str(rng.choice(["会议室开放", "法律咨询", "志愿服务", "场地共享",
                                             "健康义诊", "就业岗位"])),
                "offers_space": bool(rng.random() < 0.3)})
            if spec.code == NO_ORG_TOWER and b["kind"] == "office":
                unit.update(registered=False, member_count=min(members, 2))
                continue
            if small_branch_left and kind == "nonpublic":
                members, small_branch_left = 2, 0
                unit["member_count"] = 2
                own = o.org("nonpublic_branch", f"{uname}党支部", top, spec.code, building=b)
                o.members(own, 2, "nonpublic", None)
                unit["party_org_id"] = own["id"]
                continue
            if members >= 3:
                branch_kind = "nonpublic_branch" if kind in ("nonpublic", "social_org") \
                    else "unit_branch"
                # an organ's branch answers to its own system, not to the community
                parent = top if branch_kind == "nonpublic_branch" else None
                own = o.org(branch_kind, f"{uname}党支部", parent, spec.code, building=b)
                o.members(own, members, "nonpublic" if branch_kind == "nonpublic_branch"
                          else "reporting", None)
                unit["party_org_id"] = own["id"]
                if not_registered_left:
                    unit["registered"], not_registered_left = False, not_registered_left - 1
            else:
                small.setdefault(b["id"], []).append(unit)
    _joint_orgs(o, spec, cname, top, small)


def _joint_orgs(o: _Org, spec, cname: str, top: dict, small: dict[int, list[dict]]) -> None:
    """Group units with < 3 members, ≤ 5 per joint org, so every joint org has ≥ 3 members."""
    buildings = {b["id"]: b for b in o.data.tables["buildings"]}
    for bid, units in small.items():
        host = buildings[bid]
        for start in range(0, len(units), 5):
            group = units[start:start + 5]
            while sum(u["member_count"] for u in group) < 3:
                min(group, key=lambda u: u["member_count"])["member_count"] += 1
            if spec.code == dd.TAOYUAN:  # the seed's 非公经济党支部 gathers them
                kind, name = "nonpublic_branch", f"{cname}非公经济党支部"
            elif host["kind"] == "office":
                kind, name = "tower_org", f"{host['name']}楼宇党组织"
            else:
                kind, name = "joint_branch", f"{host['name']}联合党支部"
            if start:
                name += f"（{start // 5 + 1}）"
            joint = o.org(kind, name, top, spec.code, building=host)
            o.members(joint, sum(u["member_count"] for u in group), "nonpublic", None)
            for u in group:
                u["joint_org_id"] = joint["id"]


def _responsibility(data: DemoData, spec, homes: list[dict], rng: np.random.Generator) -> None:
    """Each residential building (and rental house) gets a responsible member of its community."""
    orgs = {g["id"]: g for g in data.tables["party_orgs"]}
    local = [m for m in data.tables["members"]
             if m["category"] in ("registered", "retired")
             and orgs[m["org_id"]]["region_code"] == spec.code]
    skip = set()
    if spec.code == NO_RESPONSIBLE:
        skip = {b["id"] for b in [b for b in homes if b["kind"] == "residential"][-3:]}
    for b in homes:
        if b["id"] in skip:
            continue
        near = [m for m in local if m["home_building_id"] == b["id"]] or local
        m = near[int(rng.integers(len(near)))]
        data.add("member_buildings", {"member_id": m["id"], "building_id": b["id"]})


def _staff(o: _Org, spec, homes: list[dict]) -> None:
    """A 网格长 and one or two 网格员 per governance grid."""
    rng = o.rng
    members_by_home: dict[int, list[dict]] = {}
    for m in o.data.tables["members"]:
        if m["home_building_id"]:
            members_by_home.setdefault(m["home_building_id"], []).append(m)
    for g in o.data.tables["grids"]:
        if g["layer"] != "governance" or g["community_code"] != spec.code:
            continue
        key = (spec.code, g["cell"])
        cell_members = [m for b in homes if b["cell"] == g["cell"]
                        for m in members_by_home.get(b["id"], [])]
        roles = [] if key == NO_HEAD else ["head"]
        if key != NO_WORKER:
            roles += ["full_time"] + (["part_time"] if rng.random() < 0.6 else [])
        people = names.person_names(rng, len(roles))
        phones = names.phones(rng, len(roles))
        for role, person, phone in zip(roles, people, phones, strict=True):
            member = cell_members[0] if role == "head" and cell_members else None
            o.data.add("grid_staff", {
                "grid_id": g["id"], "role": role, "name": member["name"] if member else person,
                "phone": phone, "member_id": member["id"] if member else None})


NEEDS = ["老旧小区加装电梯", "社区托育服务", "老年助餐点", "楼道照明改造", "停车位紧张",
         "垃圾分类指导", "夜间治安巡逻", "青少年课后托管"]
PROJECTS = ["党员志愿者助老服务队", "共建共享停车场", "四点半课堂", "楼道亮化工程"]


def _ledger(data: DemoData, spec, cname: str, rng: np.random.Generator) -> None:
    """需求清单 / 资源清单 / 项目清单: three needs, two resources and a project matching them."""
    units = [u for u in data.tables["units"]
             if any(b["id"] == u["building_id"] and b["community_code"] == spec.code
                    for b in data.tables["buildings"])]
    needs = [data.add("ledger_items", {
        "list": "need", "region_code": spec.code, "title": t, "description": f"{cname}居民反映",
        "unit_id": None, "grid_id": None, "need_id": None, "resource_id": None,
        "status": "open"}) for t in rng.choice(NEEDS, size=3, replace=False)]
    resources = [data.add("ledger_items", {
        "list": "resource", "region_code": spec.code, "title": f"{u['name']}：{u['resources']}",
        "description": None, "unit_id": u["id"], "grid_id": None, "need_id": None,
        "resource_id": None, "status": "open"}) for u in units[:2]]
    if resources:
        data.add("ledger_items", {
            "list": "project", "region_code": spec.code, "title": str(rng.choice(PROJECTS)),
            "description": None, "unit_id": resources[0]["unit_id"], "grid_id": None,
            "need_id": needs[0]["id"], "resource_id": resources[0]["id"],
            "status": "in_progress"})
