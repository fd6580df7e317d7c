#!/usr/bin/env python3
"""Builds confusion_sets.tsv, the character confusion sets the augmentation stage
uses to make realistic typos (data/clean/augment.h), from the Unicode Han Database
(Unihan) as Debian's unicode-data package ships it (/usr/share/unicode/Unihan_*.txt.bz2).

Source and licence: Unihan, Unicode 15.0 (Debian unicode-data 15.0.0-1), under the
Unicode License v3 (https://www.unicode.org/license.txt), which permits copying and
redistribution of the data files and derived works with the copyright notice.
Copyright (c) 1991-2022 Unicode, Inc.

Which characters: those with a GB 2312 source (kIRG_GSource "G0-"), the 6,763
simplified characters of everyday mainland text.
  pinyin  <syllable without tone>  characters read that way (kMandarin, first reading):
          homophone confusions, and same-pinyin substitution of glossary terms
  shape   <four-corner code>       characters sharing the first four digits of their
          kFourCornerCode: similar-shape confusions (形近字)

Run: python3 data/clean/tables/make_confusion.py > data/clean/tables/confusion_sets.tsv
     python3 data/clean/tables/make_confusion.py --check   (CI: the file matches Unihan)"""
import bz2
import collections
import sys
import unicodedata

UNIHAN = "/usr/share/unicode/Unihan_{}.txt.bz2"


def fields(name, keys):
    out = collections.defaultdict(dict)
    with bz2.open(UNIHAN.format(name), "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cp, key, value = line.rstrip("\n").split("\t", 2)
            if key in keys:
                out[chr(int(cp[2:], 16))][key] = value
    return out


def toneless(p):
    base = "".join(c for c in unicodedata.normalize("NFD", p) if not unicodedata.combining(c))
    return base.replace("ü", "v")


def build():
    gb = {c for c, v in fields("IRGSources", {"kIRG_GSource"}).items() if v["kIRG_GSource"].startswith("G0-")}
    readings = fields("Readings", {"kMandarin"})
    shapes = fields("DictionaryLikeData", {"kFourCornerCode"})
    pinyin, shape = collections.defaultdict(list), collections.defaultdict(list)
    for c in sorted(gb):
        if "kMandarin" in readings.get(c, {}):
            pinyin[toneless(readings[c]["kMandarin"].split()[0])].append(c)
        if "kFourCornerCode" in shapes.get(c, {}):
            shape[shapes[c]["kFourCornerCode"].split()[0][:4]].append(c)
    lines = ["# Character confusion sets derived from Unihan (Unicode 15.0, Unicode License v3); "
             "see make_confusion.py. kind<TAB>key<TAB>characters"]
    lines += [f"pinyin\t{k}\t{''.join(v)}" for k, v in sorted(pinyin.items()) if len(v) > 1]
    lines += [f"shape\t{k}\t{''.join(v)}" for k, v in sorted(shape.items()) if len(v) > 1]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = build()
    if "--check" in sys.argv:
        import os
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "confusion_sets.tsv")
        if open(here, encoding="utf-8").read() != text:
            sys.exit("confusion_sets.tsv does not match Unihan: regenerate it with make_confusion.py")
        print("confusion_sets.tsv matches Unihan")
    else:
        sys.stdout.write(text)
