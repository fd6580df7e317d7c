#!/usr/bin/env python3
"""Writes labelled.jsonl: the de-identification test set. Each line is
{"text": ..., "spans": [{"start", "end", "type"}]} with offsets in characters.

The sentences are written for this project (enterprise customer-service, billing
and network-operations text); the personal data in them is generated here with
valid check digits (resident IDs: ISO 7064 MOD 11-2; bank cards, IMEI: Luhn) and
belongs to nobody. A few hard positives are written the way the rules do not
confirm (no context word, no area code, dotted phones) so that recall is measured,
not assumed. Hard negatives sit beside the positives: service numbers
(10086, 95588), hotlines, order and ticket numbers, numbers that fail their check
digit, versions, dates, clock times, prices, codes glued to letters, 15-digit and
460-numbers without their context word.

Run: python3 tests/data/deid/make_labelled.py > tests/data/deid/labelled.jsonl"""
import json
import random

rng = random.Random(20261129)


def luhn_digit(s):
    total = 0
    for i, ch in enumerate(reversed(s)):
        v = int(ch)
        if i % 2 == 0:
            v = v * 2 - 9 if v * 2 > 9 else v * 2
        total += v
    return str((10 - total % 10) % 10)


def id_check(s17):
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * k for c, k in zip(s17, w)) % 11]


def digits(n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def mobile():
    d = "1" + rng.choice("3456789") + digits(9)
    form = rng.randrange(5)
    if form == 0:
        return d
    if form == 1:
        return f"{d[:3]}-{d[3:7]}-{d[7:]}"
    if form == 2:
        return f"{d[:3]} {d[3:7]} {d[7:]}"
    if form == 3:
        return "+86 " + d
    return "+86-" + d


def landline():
    area = rng.choice(["010", "021", "020", "025", "0571", "0574", "0755", "0512", "0731"])
    sub = rng.choice("2345678") + digits(7 if len(area) == 3 else rng.choice([6, 7]))
    form = rng.randrange(4)
    if form == 0:
        return f"{area}-{sub}"
    if form == 1:
        return f"({area}){sub}"
    if form == 2:
        return f"{area} {sub}"
    return f"{area}-{sub}-{digits(3)}"


def resident_id():
    region = rng.choice(["110105", "310104", "330106", "440305", "320102", "510107", "330282"])
    y, m, d = rng.randrange(1955, 2005), rng.randrange(1, 13), rng.randrange(1, 29)
    s = f"{region}{y:04d}{m:02d}{d:02d}{digits(3)}"
    c = id_check(s)
    return s + (c if c != "X" or rng.random() < 0.5 else "x")


def bank_card():
    prefix = rng.choice(["622202", "622848", "621700", "623668", "436742", "518710"])
    n = rng.choice([16, 19]) if prefix.startswith("62") else 16
    s = prefix + digits(n - 7)
    s += luhn_digit(s)
    if rng.random() < 0.5:
        return " ".join(s[i:i + 4] for i in range(0, len(s), 4))
    return s


def email():
    user = rng.choice(["zhang.wei", "li_na", "wangfang88", "chen.jie", "liu-yang", "ops.team", "hz.finance"])
    dom = rng.choice(["example.com", "corp.example.cn", "mail.example.org", "hz.example.com.cn"])
    return f"{user}{rng.randrange(100)}@{dom}"


def ipv4():
    a = rng.choice([10, 172, 192, 58, 221, 112])
    return f"{a}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def ipv6():
    form = rng.randrange(3)
    g = lambda: format(rng.randrange(1, 65536), "x")  # noqa: E731
    if form == 0:
        return f"2001:db8:{g()}::{g()}"
    if form == 1:
        return "fe80::" + ":".join(g() for _ in range(4))
    return ":".join(g() for _ in range(8))


def imei():
    s = rng.choice(["35693803", "86012345", "35209900", "86754303"]) + digits(6)
    return s + luhn_digit(s)


def iccid():
    s = "898600" + digits(13)
    return s + luhn_digit(s)


def imsi():
    return "460" + rng.choice(["00", "01", "02", "03", "11"]) + digits(10)


POSITIVE = {
    "PHONE": (mobile, ["客户联系电话：{}，请回访。", "请拨打{}联系张经理", "用户 {} 反映宽带掉线", "手机号{}已实名", "Call me at {} tomorrow."]),
    "LANDLINE": (landline, ["营业厅电话 {}，周一至周五营业", "传真：{}", "请致电{}转财务部", "office line {} (Hangzhou)"]),
    "ID": (resident_id, ["身份证号：{}，开户已办理", "证件号码 {} 的客户已补卡", "ID {} verified"]),
    "BANKCARD": (bank_card, ["扣款银行卡 {}，请核对", "账号{}已绑定自动缴费", "card {} was charged"]),
    "EMAIL": (email, ["请发邮件至 {} 申请发票", "联系人邮箱：{}", "cc: {}"]),
    "IPV4": (ipv4, ["服务器 {} 的 CPU 告警", "IP地址：{}，端口 8080", "ping {} 超时"]),
    "IPV6": (ipv6, ["IPv6 地址 {} 无法访问", "网关：{}", "host {} is down"]),
    "IMEI": (imei, ["终端IMEI：{}，型号未知", "设备串号 {} 已加入白名单", "IMEI {} blocked"]),
    "ICCID": (iccid, ["SIM 卡 ICCID {} 已激活", "卡号{}需要换卡"]),
    "IMSI": (imsi, ["IMSI：{} 未登记", "用户 IMSI {} 漫游异常"]),
}

NEGATIVE = [
    lambda: "客服热线10086，话费查询请拨1008611",
    lambda: "工行客服95588，建行95533",
    lambda: "全国服务热线 400-820-8820",
    lambda: f"订单号 {digits(13)}，请保留",
    lambda: f"工单编号 {rng.choice('123456789')}{digits(17)}",                  # 18 digits, check fails mostly
    lambda: f"流水号{rng.choice('789')}{digits(15)}",                             # 16 digits, no card prefix
    lambda: f"版本 v{rng.randrange(1, 9)}.{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(100)} 已发布",
    lambda: f"会议时间 2026-0{rng.randrange(1, 10)}-1{rng.randrange(10)} {rng.randrange(10, 24)}:{rng.randrange(10, 60)}:{rng.randrange(10, 60)}",
    lambda: f"本月宽带费 {rng.randrange(50, 300)}.{rng.randrange(10, 100)} 元，套餐 {rng.randrange(100, 1000)}M",
    lambda: f"设备型号 HW{digits(11)}，批次 SN{digits(15)}",
    lambda: f"统计：{digits(15)} 条记录已归档",                                     # 15 digits, no IMEI word
    lambda: f"编码 460{digits(12)} 为内部资源编号",                                  # no IMSI word
    lambda: f"比例 {rng.randrange(1, 9)}:{rng.randrange(1, 9)}:{rng.randrange(1, 9)}",
    lambda: f"坐标 {rng.randrange(100, 130)}.{digits(4)}, {rng.randrange(20, 40)}.{digits(4)}",
    lambda: f"节点 1.{rng.randrange(10)}.{rng.randrange(10)} 与 999.{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(10)} 均无效",
    lambda: f"编号{rng.choice(['0571', '0574'])}{digits(8)}为资产编号",              # landline-shaped, no context
    lambda: "杭分、宁分两个分公司的 KPI 已上报",
    lambda: f"邮件主题：Q{rng.randrange(1, 5)} 预算@财务部",
]


# Hard positives: personal data written the way our rules do not confirm (no context
# word, no area code, an unusual card scheme). They are labelled as what they are,
# so the measured recall shows what precision-first costs.
HARD = [
    ("IMEI", imei, "丢失手机的 {} 请挂失"),
    ("IMSI", imsi, "卡内号码{}异常"),
    ("LANDLINE", lambda: rng.choice("2345678") + digits(7), "拨打本地号码 {} 即可"),
    ("BANKCARD", lambda: (lambda s: s + luhn_digit(s))("6011" + digits(11)), "Discover 卡 {} 已绑定"),
    ("PHONE", lambda: "1" + rng.choice("3456789") + digits(1) + "." + digits(4) + "." + digits(4), "手机 {} 找我"),
]


def sentence_with(types):
    parts, spans = [], []
    text = ""
    for t in types:
        gen, forms = POSITIVE[t]
        value = gen()
        form = rng.choice(forms)
        pre, post = form.split("{}")
        if text:
            text += rng.choice(["；", "。", " ", "，另外"])
        start = len(text) + len(pre)
        text += pre + value + post
        spans.append({"start": start, "end": start + len(value), "type": t})
    return {"text": text, "spans": spans}


lines = []
for t in POSITIVE:
    for _ in range(24):
        lines.append(sentence_with([t]))
for _ in range(60):
    lines.append(sentence_with(rng.sample(list(POSITIVE), rng.randrange(2, 4))))
for _ in range(4):
    for t, gen, form in HARD:
        value = gen()
        pre, post = form.split("{}")
        lines.append({"text": pre + value + post, "spans": [{"start": len(pre), "end": len(pre) + len(value), "type": t}]})
for _ in range(8):
    for neg in NEGATIVE:
        lines.append({"text": neg(), "spans": []})
rng.shuffle(lines)
for l in lines:
    print(json.dumps(l, ensure_ascii=False))
