#!/usr/bin/env python3
"""Generates the smoke recipe's sample corpus (written by the slicetune authors,
Apache-2.0, like the rest of the project; no outside text is used).

Business-style Chinese and English sentences from templates: branch FAQs,
proofreading notes, and abbreviation expansions (杭分 -> 杭州分公司). Deterministic:
the same seed always gives the same files, so the committed outputs can be checked
with `python3 recipes/data/smoke/generate.py --check`.

Outputs beside this script:
  corpus.txt   documents separated by blank lines (text format; also trains the
               tiny tokenizer of `slicetune init-model`)
  pairs.jsonl  {"input": ..., "output": ...} abbreviation-expansion pairs (instruction format)
"""
import argparse
import json
import os
import random

CITIES = [("杭州", "杭分", "Hangzhou"), ("宁波", "甬分", "Ningbo"), ("温州", "温分", "Wenzhou"),
          ("嘉兴", "嘉分", "Jiaxing"), ("湖州", "湖分", "Huzhou"), ("绍兴", "绍分", "Shaoxing"),
          ("金华", "金分", "Jinhua"), ("台州", "台分", "Taizhou"), ("丽水", "丽分", "Lishui"),
          ("衢州", "衢分", "Quzhou"), ("舟山", "舟分", "Zhoushan")]
PRODUCTS = [("宽带套餐", "broadband plan"), ("企业专线", "enterprise leased line"), ("云主机", "cloud server"),
            ("物联网卡", "IoT SIM card"), ("视频会议", "video conferencing"), ("数据中心托管", "data-center colocation"),
            ("短信平台", "SMS gateway"), ("移动办公", "mobile office suite")]
MONTHS = ["一月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "十一月", "十二月"]
EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"]
ZH_TEMPLATES = [
    "{city}分公司在{month}完成了{product}的升级，客户满意度提升到{pct}%。",
    "请注意：{abbr}本季度{product}的新增用户为{n}户，较上季度增长{pct}%。",
    "{city}分公司财务部提醒，报销单据须在每月{day}日前提交，逾期将顺延至下月处理。",
    "关于{product}的常见问题：开通后{n}个工作日内生效，如有疑问请联系{city}分公司客服。",
    "会议纪要：{abbr}与总部讨论了{product}的定价方案，决定在{month}试点。",
    "校对说明：原文“{product}{product}”存在叠词错误，应改为“{product}”。",
    "{city}分公司的网络维护窗口为每周{weekday}凌晨两点至四点，期间{product}可能短暂中断。",
]
EN_TEMPLATES = [
    "The {en_city} branch upgraded its {en_product} in {en_month}; customer satisfaction rose to {pct}%.",
    "Reminder from finance: expense claims are due by day {day} of each month at the {en_city} branch.",
    "FAQ: a new {en_product} takes effect within {n} business days. Contact the {en_city} branch for help.",
    "Meeting notes: headquarters and the {en_city} branch agreed to pilot {en_product} pricing in {en_month}.",
    "Proofreading note: replace the repeated phrase \"{en_product} {en_product}\" with \"{en_product}\".",
    "Maintenance for {en_product} in {en_city} runs every {en_weekday} from 2 a.m. to 4 a.m.",
]
WEEKDAYS = [("一", "Monday"), ("二", "Tuesday"), ("三", "Wednesday"), ("四", "Thursday"), ("五", "Friday")]


def sentence(rng, templates):
    city, abbr, en_city = rng.choice(CITIES)
    product, en_product = rng.choice(PRODUCTS)
    m = rng.randrange(12)
    wd, en_wd = rng.choice(WEEKDAYS)
    return rng.choice(templates).format(
        city=city, abbr=abbr, en_city=en_city, product=product, en_product=en_product, month=MONTHS[m],
        en_month=EN_MONTHS[m], pct=rng.randrange(50, 100), n=rng.randrange(1, 500), day=rng.randrange(1, 29),
        weekday=wd, en_weekday=en_wd)


def build(seed=17, documents=400):
    rng = random.Random(seed)
    docs = []
    for _ in range(documents):
        templates = ZH_TEMPLATES if rng.random() < 0.6 else EN_TEMPLATES
        docs.append("".join(sentence(rng, templates) + ("" if templates is ZH_TEMPLATES else " ")
                            for _ in range(rng.randrange(2, 6))).strip())
    corpus = "\n\n".join(docs) + "\n"
    pairs = []
    for _ in range(300):
        city, abbr, en_city = rng.choice(CITIES)
        product, _ = rng.choice(PRODUCTS)
        n = rng.randrange(1, 500)
        pairs.append({"input": f"展开缩写：{abbr}{product}新增{n}户。",
                      "output": f"{city}分公司{product}新增{n}户。"})
    pairs_text = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs)
    return corpus, pairs_text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed files differ from the generator")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    outputs = dict(zip(["corpus.txt", "pairs.jsonl"], build()))
    for name, text in outputs.items():
        path = os.path.join(here, name)
        if args.check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    raise SystemExit(f"{path} differs from generate.py's output; rerun generate.py")
        else:
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
