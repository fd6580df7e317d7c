#!/usr/bin/env python3
"""Writes the corpus-pipeline benchmark's input: JSON lines {"text": ...} of
Chinese and English business documents built from templates (written for this
project), with personal data (phones, e-mail, IPs, resident IDs) and planted exact
and near duplicates (~5% each). Deterministic for a seed.

  python3 bench/make_corpus.py OUT.jsonl [--mb 200] [--seed 1]"""
import argparse
import json
import random

CITIES = ["杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "台州", "丽水", "衢州", "舟山"]
EN = ["Hangzhou", "Ningbo", "Wenzhou", "Jiaxing", "Huzhou", "Shaoxing", "Jinhua", "Taizhou", "Lishui", "Quzhou"]
PRODUCTS = ["宽带套餐", "企业专线", "云主机", "物联网卡", "视频会议", "数据中心托管", "短信平台", "移动办公"]
ZH = [
    "{c}分公司在{m}月完成了{p}的升级，客户满意度提升到{n}%，新增用户{k}户。",
    "客户来电反映{p}在夜间频繁掉线，联系电话{phone}，已派单给{c}分公司网络部处理。",
    "请于{m}月{d}日前把{p}的报销单据发到{email}，逾期顺延至下月。",
    "机房巡检发现服务器{ip}的磁盘使用率达到{n}%，请{c}分公司运维组在今晚扩容。",
    "关于{p}的常见问题：开通后{d}个工作日内生效，如有疑问请拨打10086或联系客户经理。",
    "会议纪要：{c}分公司与总部讨论了{p}的定价方案，决定在{m}月试点，预计覆盖{k}家企业客户。",
    "用户身份证号{pid}的实名信息已核验，{p}业务办理完成。",
]
EN_T = [
    "The {e} branch upgraded its network in month {m}; satisfaction rose to {n}% with {k} new subscribers.",
    "A customer reported outages; call back at {phone} or write to {email} before day {d}.",
    "Server {ip} in the {e} data center reached {n}% disk usage and needs more storage tonight.",
]


def luhn_free_id(rng):
    region = rng.choice(["330106", "330282", "110105", "440305"])
    s = f"{region}{rng.randrange(1960, 2004)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{rng.randrange(1000):03d}"
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return s + "10X98765432"[sum(int(c) * k for c, k in zip(s, w)) % 11]


def sentence(rng):
    v = dict(c=rng.choice(CITIES), e=rng.choice(EN), p=rng.choice(PRODUCTS), m=rng.randrange(1, 13),
             d=rng.randrange(1, 29), n=rng.randrange(1, 100), k=rng.randrange(10, 5000),
             phone="1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9)),
             email=f"user{rng.randrange(100000)}@example.com",
             ip=f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}", pid=luhn_free_id(rng))
    return rng.choice(ZH if rng.random() < 0.75 else EN_T).format(**v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    target, size, docs = a.mb * 1e6, 0, []
    with open(a.out, "w", encoding="utf-8") as f:
        while size < target:
            r = rng.random()
            if docs and r < 0.05:
                text = rng.choice(docs)  # exact duplicate
            elif docs and r < 0.10:
                base = rng.choice(docs)  # near duplicate: one sentence changed
                parts = base.split("。")
                parts[rng.randrange(len(parts))] = sentence(rng).rstrip("。")
                text = "。".join(parts)
            else:
                text = "".join(sentence(rng) for _ in range(rng.randrange(3, 9)))
                if len(docs) < 20000:
                    docs.append(text)
                else:
                    docs[rng.randrange(len(docs))] = text
            line = json.dumps({"text": text}, ensure_ascii=False) + "\n"
            f.write(line)
            size += len(line.encode("utf-8"))


if __name__ == "__main__":
    main()
