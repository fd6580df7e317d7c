#!/usr/bin/env bash
# The README's per-slice table, from a real run: a tiny random Llama, given its
# language by recipes/tiny-lm.yaml (full training), then every shipped slice recipe
# as it is, each scored on its held-out pairs before (the base alone) and after
# (with its adapter) by its own eval stage. Prints a Markdown table.
#   scripts/slice_table.sh            # build/release/bin/slicetune (scripts/smoke.sh builds it)
#   ST=build/dev/bin/slicetune scripts/slice_table.sh
set -euo pipefail
cd "$(dirname "$0")/.."
st=${ST:-build/release/bin/slicetune}
[[ -f runs/tiny-random/model.safetensors ]] ||
  "$st" init-model --preset tiny --layers 4 --vocab-size 600 --corpus recipes/data/slices/lm.txt runs/tiny-random
start=$(date +%s)
"$st" run recipes/tiny-lm.yaml
for r in typo-general typo-term typo-reduplication term-expansion text2sql faq-per-city; do
  "$st" run "recipes/$r.yaml"
done
python3 - <<'PY'
import glob, json
rows = []
for path in sorted(glob.glob("runs/*/eval/eval.json") + glob.glob("runs/*/*/eval/eval.json")):
    e = json.load(open(path))
    name = path[len("runs/"):-len("/eval/eval.json")]
    b, a = e["before"], e["after"]
    if "execution_accuracy" in a:
        metric, before, after = "execution accuracy", b["execution_accuracy"], a["execution_accuracy"]
        extra = " (exact match %.0f%% -> %.0f%%)" % (100 * b["exact_match"], 100 * a["exact_match"])
    else:
        metric, before, after = "exact match", b["exact_match"], a["exact_match"]
        extra = " (correction F1 %.2f -> %.2f)" % (b["correction"]["f1"], a["correction"]["f1"]) \
            if name.startswith("typo") else \
            " (character F1 %.2f -> %.2f)" % (b["char_overlap"]["f1"], a["char_overlap"]["f1"]) if "/" in name else ""
    rows.append("| %s | %d | %s | %.0f%% | %.0f%%%s |" % (name, a["examples"], metric, 100 * before, 100 * after, extra))
print("| slice | held-out pairs | metric | base alone | with the slice |")
print("|---|---|---|---|---|")
print("\n".join(rows))
PY
echo "slice_table.sh: $(( $(date +%s) - start )) s" >&2
