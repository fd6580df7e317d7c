#!/usr/bin/env bash
# The corpus pipeline's throughput, side by side in one run on the same generated
# corpus (Chinese and English, personal data, planted duplicates; bench/make_corpus.py):
#   ours-full      slicetune data build: decode, normalize, de-identify, exact + MinHash
#                  near-dedup (5-grams, 14 bands x 8 hashes), tokenize, pack, HDF5 shards
#   ours-tokenize  the same build with no cleaning: read, tokenize, pack, shards
#   datatrove      JsonlReader -> PIIFormatter -> MinHash dedup (signature, buckets,
#                  cluster, filter; 5-grams, 14 x 8) -> DocumentTokenizer, one worker
#   sentencepiece  sentencepiece's own encode of every document, one thread: the floor
# Every side uses the same vocabulary (the tiny model's sentencepiece model; datatrove
# its tokenizer.json conversion). Reported: wall time, CPU time (user + sys, from
# /usr/bin/time -v) and MB per CPU-second, the per-core throughput.
#
#   bash bench/corpus_pipeline.sh [MB]     (default 200)
#   SKIP_DATATROVE=1 bash bench/corpus_pipeline.sh [MB]   keep datatrove's last run (it takes the longest)
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-200}
# The release build of the `slicetune` binary (no LibTorch needed for the data stage).
[[ -f build/release/CMakeCache.txt ]] || cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target slicetune >/dev/null
bin=build/release/bin
py=build/venv/bin/python
dt=build/bench-venv
work=build/bench/corpus-$mb
mkdir -p "$work"
if [[ ! -x $dt/bin/python ]]; then
  python3 -m venv "$dt"
  "$dt/bin/pip" install -q "datatrove[processing]==0.10.1" orjson spacy sentencepiece==0.2.3
fi
[[ -f $work/in/part-0.jsonl ]] || {
  mkdir -p "$work/in"
  python3 bench/make_corpus.py "$work/all.jsonl" --mb "$mb"
  split -n l/8 -d -a 1 --additional-suffix=.jsonl "$work/all.jsonl" "$work/in/part-"
  rm "$work/all.jsonl"
}
model=$work/tiny-base
[[ -f $model/tokenizer.model ]] || "$bin/slicetune" init-model --preset tiny "$model" >/dev/null
[[ -f $model-hf/tokenizer.json ]] || "$py" -c "
import transformers; transformers.AutoTokenizer.from_pretrained('$model').save_pretrained('$model-hf')"
in_mb=$(du -cm "$work"/in/*.jsonl | tail -1 | cut -f1)

recipe() {  # name clean
  cat > "$work/$1.yaml" <<Y
name: $1
base_model: $model
output_dir: $work/out-$1
data:
  sources: [{path: "$work/in/*.jsonl", format: text}]
$2
  seq_len: 1024
  pack: true
Y
}
recipe full "  clean: {normalize: true, deid: {policy: placeholder}, dedup: {near_threshold: 0.8, ngram: 5, num_perm: 112, bands: 14}}"
recipe tokenize ""

run() {  # label command...
  local label=$1; shift
  /usr/bin/time -v "$@" > "$work/$label.out" 2> "$work/$label.time" || { tail -20 "$work/$label.time"; exit 1; }
}
run ours-full "$bin/slicetune" data build "$work/full.yaml"
run ours-tokenize "$bin/slicetune" data build "$work/tokenize.yaml"
if [[ -z ${SKIP_DATATROVE:-} ]]; then
rm -rf "$work/dt"
run datatrove "$dt/bin/python" - "$work" "$model-hf/tokenizer.json" <<'PY'
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.formatters import PIIFormatter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.tokens import DocumentTokenizer
from datatrove.pipeline.writers import JsonlWriter
work, tok = sys.argv[1], sys.argv[2]
cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
dt = f"{work}/dt"
def go(pipeline, tasks=1):
    LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=f"{dt}/logs/{len(pipeline)}-{id(pipeline)}").run()
go([JsonlReader(f"{work}/in"), PIIFormatter(), JsonlWriter(f"{dt}/pii"), MinhashDedupSignature(f"{dt}/sigs", config=cfg)])
go([MinhashDedupBuckets(f"{dt}/sigs", f"{dt}/buckets", config=cfg)], tasks=cfg.num_buckets)
go([MinhashDedupCluster(f"{dt}/buckets", f"{dt}/remove_ids", config=cfg)])
go([JsonlReader(f"{dt}/pii"), MinhashDedupFilter(f"{dt}/remove_ids"), DocumentTokenizer(f"{dt}/tokens", tok)])
PY
fi
run sentencepiece "$py" - "$work/in" "$model/tokenizer.model" <<'PY'
import glob, json, sys
import sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[2], num_threads=1)
n = 0
for f in sorted(glob.glob(sys.argv[1] + "/*.jsonl")):
    texts = [json.loads(l)["text"] for l in open(f, encoding="utf-8")]
    n += sum(len(x) for x in sp.encode(texts, num_threads=1))
print(n, "tokens")
PY

field() { grep -F "$1" "$2" | sed 's/.*: //'; }
secs() { echo "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'; }
echo "input: $in_mb MB in 8 files ($work/in), $(nproc) cores"
printf "%-14s %9s %9s %12s %10s\n" side wall_s cpu_s "MB/cpu-s" peak_MB
sides=(ours-full ours-tokenize datatrove sentencepiece)
if [[ ! -f $work/datatrove.time ]]; then  # SKIP_DATATROVE on a machine that never ran it
  echo "datatrove: no run on record in $work (run without SKIP_DATATROVE once)"
  sides=(ours-full ours-tokenize sentencepiece)
  cpu_datatrove=0
fi
for s in "${sides[@]}"; do
  w=$(secs "$(field "Elapsed (wall clock)" "$work/$s.time")")
  c=$(awk -v u="$(field "User time" "$work/$s.time")" -v y="$(field "System time" "$work/$s.time")" 'BEGIN{print u+y}')
  r=$(field "Maximum resident set size" "$work/$s.time")
  printf "%-14s %9.1f %9.1f %12.2f %10d\n" "$s" "$w" "$c" "$(awk -v m="$in_mb" -v c="$c" 'BEGIN{print m/c}')" $(( r / 1024 ))
  eval "cpu_${s//-/_}=$c"
done
awk -v a="$cpu_ours_full" -v b="$cpu_datatrove" -v t="$cpu_ours_tokenize" -v s="$cpu_sentencepiece" 'BEGIN {
  if (b > 0) printf "per-core throughput, ours-full / datatrove: %.1fx (target >= 5)\n", b / a
  printf "ours-full / ours-tokenize: %.2f, ours-full / sentencepiece alone: %.2f (target >= 0.5)\n", t / a, s / a }'
grep -h "removed\|data:" "$work/ours-full.time" | tail -2 || true
