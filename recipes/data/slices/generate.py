#!/usr/bin/env python3
"""Generates the sample data of the shipped slice recipes (written by the slicetune
authors, Apache-2.0 like the rest of the project; no outside text is used).

Business-style Chinese of a fictional provincial telecom with eleven city
branches: the clean sentences the proofreading slices corrupt and correct, the
glossary of branch abbreviations and product terms, per-city finance FAQs, and a
small sales database with text-to-SQL questions in company jargon.
Deterministic: `python3 recipes/data/slices/generate.py --check` fails when the
committed files differ from what this script writes.

Outputs beside this script:
  lm.txt                 the proofreading and expansion training sentences, the SQL schema
                         and some rows, and copy exercises (no FAQ or text-to-SQL pairs),
                         documents separated by blank lines: the tokenizer and the full
                         training of the tiny base
  proofread-train.txt    clean sentences the three proofreading slices augment
  proofread-heldout.txt  other sentences for their held-out pairs (see heldout-*.jsonl)
  glossary.tsv           term<TAB>abbreviation (branch names) and product terms
  expansion-train.txt    sentences naming branches in full, for abbreviation pairs
  expansion-heldout.txt  held-out ones
  faq/<city>.jsonl       {"question", "answer"} per city branch; faq/<city>-heldout.jsonl
                         asks the same facts in a phrasing training never saw
  sql/schema.sql, sql/data.sql   the SQLite database text2sql executes against
  sql/train.jsonl, sql/heldout.jsonl   {"question", "sql"}
"""
import argparse
import json
import os
import random

CITIES = [("杭州", "杭分"), ("宁波", "甬分"), ("温州", "温分"), ("嘉兴", "嘉分"), ("湖州", "湖分"),
          ("绍兴", "绍分"), ("金华", "金分"), ("台州", "台分"), ("丽水", "丽分"), ("衢州", "衢分"), ("舟山", "舟分")]
PRODUCTS = ["宽带套餐", "企业专线", "云主机", "物联网卡", "视频会议", "数据中心托管", "短信平台", "移动办公"]
MONTHS = ["一月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "十一月", "十二月"]
WEEKDAYS = ["周一", "周二", "周三", "周四", "周五"]
NUMS = "零一二三四五六七八九"

# Clean sentences; {branch} is a full branch name (杭州分公司).
PROOF_TEMPLATES = [
    "{branch}在{month}完成了{product}的升级，客户满意度明显提升。",
    "请各部门注意，{product}的新增用户要在{month}底前录入系统。",
    "{branch}财务部提醒大家，报销单据必须在每月{day}日前提交。",
    "关于{product}的常见问题，开通以后{n}个工作日内生效。",
    "会议决定由{branch}在{month}试点{product}的新定价方案。",
    "{branch}的网络维护时间是每{weekday}凌晨两点到四点。",
    "我们建议客户先咨询{branch}的客服，再办理{product}业务。",
    "今天下午三点召开{product}推广会议，请{branch}准时参加。",
    "{product}的合同已经签好了，请{branch}尽快安排施工。",
    "由于系统升级，{product}在{month}会有短暂的服务中断。",
]
FAQ_FACTS = [  # (question phrasings..., answer); the last phrasing is held out
    (["{branch}报销单据的截止日期是哪天？", "在{branch}，报销单据最晚哪天交？", "{branch}的报销单据几号前提交？",
      "请问{branch}报销截止是每月几号？"], "{branch}的报销单据须在每月{day}日前提交。"),
    (["{branch}的客服电话是多少？", "怎么联系{branch}的客服？", "{branch}客服热线是什么？",
      "请问{branch}客服的号码是多少？"], "{branch}的客服电话是{phone}。"),
    (["{branch}的网络维护在什么时候？", "{branch}哪天做网络维护？", "{branch}的维护窗口是什么时间？",
      "请问{branch}网络维护安排在哪天？"], "{branch}的网络维护在每{weekday}凌晨两点到四点。"),
    (["{branch}差旅住宿的标准是多少？", "在{branch}出差住宿能报多少钱？", "{branch}的住宿报销上限是多少？",
      "请问{branch}出差住宿每晚最多报多少？"], "{branch}的差旅住宿标准是每晚{hotel}元。"),
    (["{branch}发票抬头怎么写？", "给{branch}开发票写什么抬头？", "{branch}的发票抬头是什么？",
      "请问{branch}开票抬头应该写什么？"], "发票抬头请写{city}市通信服务有限公司{branch}。"),
]
FAQ_CITIES = [("杭州", "hangzhou"), ("宁波", "ningbo"), ("温州", "wenzhou")]


def branch_of(city):
    return city + "分公司"


def proof_sentence(rng):
    city, _ = rng.choice(CITIES)
    return rng.choice(PROOF_TEMPLATES).format(
        branch=branch_of(city), month=rng.choice(MONTHS), product=rng.choice(PRODUCTS), day=rng.randrange(5, 29),
        n=NUMS[rng.randrange(2, 10)], weekday=rng.choice(WEEKDAYS))


def unique_sentences(rng, count, taken):
    out = []
    while len(out) < count:
        s = proof_sentence(rng)
        if s not in taken:
            taken.add(s)
            out.append(s)
    return out


def faq(rng):
    files = {}
    for city, _ in FAQ_CITIES:
        facts = dict(branch=branch_of(city), city=city, day=rng.randrange(10, 28), weekday=rng.choice(WEEKDAYS),
                     phone="0%d-%d" % (rng.randrange(570, 580), rng.randrange(80000000, 89999999)),
                     hotel=rng.choice([300, 350, 400, 450, 500]))
        train, held = [], []
        for questions, answer in FAQ_FACTS:
            a = answer.format(**facts)
            for q in questions[:-1]:
                train.append({"question": q.format(**facts), "answer": a})
            held.append({"question": questions[-1].format(**facts), "answer": a})
        files[city] = (train, held)
    return files


SQL_MONTHS = list(range(1, 13))


def sql_database(rng):
    schema = ("CREATE TABLE branches (name TEXT PRIMARY KEY, city TEXT NOT NULL, manager TEXT NOT NULL);\n"
              "CREATE TABLE sales (branch TEXT NOT NULL REFERENCES branches(name), product TEXT NOT NULL,\n"
              "                    month INTEGER NOT NULL, new_users INTEGER NOT NULL, revenue INTEGER NOT NULL);\n")
    surnames = "王李张刘陈杨黄赵吴周徐"
    rows = []
    for i, (city, _) in enumerate(CITIES):
        rows.append("INSERT INTO branches VALUES ('%s', '%s', '%s经理');" % (branch_of(city), city, surnames[i]))
    for city, _ in CITIES:
        for product in PRODUCTS:
            for m in SQL_MONTHS:
                rows.append("INSERT INTO sales VALUES ('%s', '%s', %d, %d, %d);" % (
                    branch_of(city), product, m, rng.randrange(10, 500), rng.randrange(10, 900) * 100))
    return schema, "\n".join(rows) + "\n"


SQL_TEMPLATES = [
    ("{abbr}{m}月{product}新增多少户？",
     "SELECT new_users FROM sales WHERE branch = '{branch}' AND product = '{product}' AND month = {m};"),
    ("{abbr}全年{product}收入多少？",
     "SELECT SUM(revenue) FROM sales WHERE branch = '{branch}' AND product = '{product}';"),
    ("{m}月哪个分公司{product}新增最多？",
     "SELECT branch FROM sales WHERE product = '{product}' AND month = {m} ORDER BY new_users DESC LIMIT 1;"),
    ("{abbr}的经理是谁？", "SELECT manager FROM branches WHERE name = '{branch}';"),
    ("{abbr}{m}月总收入多少？", "SELECT SUM(revenue) FROM sales WHERE branch = '{branch}' AND month = {m};"),
]


def sql_pairs(rng, count, taken):
    out = []
    while len(out) < count:
        city, abbr = rng.choice(CITIES)
        q, s = rng.choice(SQL_TEMPLATES)
        v = dict(abbr=abbr, branch=branch_of(city), product=rng.choice(PRODUCTS), m=rng.choice(SQL_MONTHS))
        question = q.format(**v)
        if question in taken:
            continue
        taken.add(question)
        out.append({"question": question, "sql": s.format(**v)})
    return out


def copy_exercises(rng, count, pieces):
    """Random strings of sample words shown and then repeated: with no template to
    predict them from, the tiny base can only learn them by copying, which every
    correction slice needs (a base trained on the templates alone copies poorly)."""
    docs = []
    for _ in range(count):
        items = [rng.choice(pieces) for _ in range(rng.randrange(3, 10))]
        text = "".join(items)
        docs.append("复述：" + text + "\n" + text)
    return docs


def jsonl(rows):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def build(seed=29):
    rng = random.Random(seed)
    taken = set()
    proof_train = unique_sentences(rng, 800, taken)
    proof_held = unique_sentences(rng, 64, taken)
    # Abbreviation pairs come from sentences that name a branch in full.
    exp_train = unique_sentences(rng, 600, taken)
    exp_held = unique_sentences(rng, 64, taken)
    exp_train = [s for s in exp_train if "分公司" in s]
    exp_held = [s for s in exp_held if "分公司" in s]
    glossary = "# term<TAB>abbreviation: the branches, then product terms (no abbreviation)\n"
    glossary += "".join("%s\t%s\n" % (branch_of(c), a) for c, a in CITIES)
    glossary += "".join(p + "\n" for p in PRODUCTS)
    faqs = faq(rng)
    schema, data = sql_database(rng)
    sql_taken = set()
    sql_train = sql_pairs(rng, 900, sql_taken)
    sql_held = sql_pairs(rng, 48, sql_taken)

    lm_docs = []
    for i in range(0, len(proof_train), 4):
        lm_docs.append("".join(proof_train[i:i + 4]))
    for i in range(0, len(exp_train), 4):
        lm_docs.append("".join(exp_train[i:i + 4]))
    # The base gets the language of SQL (the schema, the branch rows and some sales
    # rows) but none of the question -> query pairs or FAQ facts: those are the slices'.
    data_lines = data.splitlines()
    lm_docs.append(schema.strip())
    lm_docs.append("\n".join(data_lines[:len(CITIES)]))
    lm_docs.extend("\n".join(data_lines[i:i + 8]) for i in range(len(CITIES), len(data_lines), 96))
    pieces = ([branch_of(c) for c, _ in CITIES] + [a for _, a in CITIES] + PRODUCTS + MONTHS + WEEKDAYS +
              [str(n) for n in range(1, 32)] + list("的了在是我们请和到要会对这上个就说时地也出得那")
              + ["，", "。"])
    lm_docs.extend(copy_exercises(rng, 2000, pieces))
    files = {
        "lm.txt": "\n\n".join(lm_docs) + "\n",
        "proofread-train.txt": "\n".join(proof_train) + "\n",
        "proofread-heldout.txt": "\n".join(proof_held) + "\n",
        "expansion-train.txt": "\n".join(exp_train) + "\n",
        "expansion-heldout.txt": "\n".join(exp_held) + "\n",
        "glossary.tsv": glossary,
        "sql/schema.sql": schema,
        "sql/data.sql": data,
        "sql/train.jsonl": jsonl(sql_train),
        "sql/heldout.jsonl": jsonl(sql_held),
    }
    for city, name in FAQ_CITIES:
        files["faq/%s.jsonl" % name] = jsonl(faqs[city][0])
        files["faq/%s-heldout.jsonl" % name] = jsonl(faqs[city][1])
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed files differ from the generator")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    for name, text in build().items():
        path = os.path.join(here, name)
        if args.check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    raise SystemExit(f"{path} differs from generate.py's output; rerun generate.py")
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
