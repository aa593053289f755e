"""Chinese names for the demo: people, compounds, units (fictional, drawn from common parts)."""

from __future__ import annotations

import numpy as np

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹"
                "袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文志永春海云")
COMPOUNDS = ["金色家园", "翠湖苑", "春城花园", "滇池雅居", "锦绣小区", "和平里", "园丁小区",
             "书香苑", "东风小区", "银杏苑", "阳光小区", "紫云苑", "清华苑", "康乐小区",
             "盘江小区", "北辰花园", "环城小区", "白塔新村", "学府苑", "佳园"]
FIRMS = ["信达科技", "云岭物流", "滇味餐饮", "春晖教育", "恒通商贸", "博雅设计", "安居物业",
         "同心律所", "新源电子", "彩云文化", "百川医药", "华夏保险代理", "金鼎财务", "红土地传媒",
         "汇丰建材", "明德咨询", "绿野旅游", "星火网络", "诚信会计", "瑞丰家政"]
ORGANS = ["区市场监督管理所", "区税务分局", "派出所", "社区卫生服务站", "区图书馆分馆",
          "街道司法所", "区人社局服务点", "邮政支局", "供电营业所", "区档案馆", "区第二小学",
          "区文化馆", "中国银行支行", "电信营业厅", "区疾控中心", "区政务服务分中心",
          "区残联服务站", "消防救援站", "区退役军人服务站", "区城管中队", "自来水营业所",
          "区妇幼保健站", "交警中队", "区老年大学", "区总工会服务站", "区科协", "区气象站",
          "区住建局片区站", "区民政局服务点", "区图书馆"]
SOCIAL = ["社区养老协会", "青年志愿者协会", "书画协会", "心理咨询服务社", "助残服务中心"]


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` plausible Chinese personal names (surname + one or two characters)."""
    sur = rng.choice(SURNAMES, size=n)
    g1 = rng.choice(GIVEN, size=n)
    g2 = rng.choice(GIVEN, size=n)
    two = rng.random(n) < 0.6
    return [s + a + (b if t else "") for s, a, b, t in zip(sur, g1, g2, two, strict=True)]


def phones(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` mobile-number-shaped strings (13x/15x/18x prefixes)."""
    prefix = rng.choice(["135", "138", "139", "150", "151", "158", "187", "188"], size=n)
    rest = rng.integers(0, 10**8, size=n)
    return [f"{p}{r:08d}" for p, r in zip(prefix, rest, strict=True)]
