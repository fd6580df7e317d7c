// Corpus cleaning stages: decoding, normalization, duplicate removal and the
// de-identification validators (the labelled-set evaluation is tests/python/test_deid.py).
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <random>

#include "data/clean/decode.h"
#include "data/clean/dedup.h"
#include "data/clean/minhash.h"
#include "data/clean/signature_store.h"
#include "data/clean/deid.h"
#include "core/utf8.h"
#include "data/clean/normalize.h"
#include "tests/test_util.h"

namespace st::data {
namespace {

const std::string kZhongwen = "中文测试";  // UTF-8

TEST(Decode, DetectsAndConvertsGbkUtf16AndBom) {
  DecodeStats st;
  auto gbk = DecodeToUtf8("\xd6\xd0\xce\xc4\xb2\xe2\xca\xd4", "auto", &st);
  ASSERT_TRUE(gbk.ok());
  EXPECT_EQ(*gbk, kZhongwen);
  EXPECT_EQ(st.encoding, "gb18030");
  EXPECT_EQ(st.invalid_bytes, 0);
  // UTF-16LE with a BOM, and without one (detected by its zero bytes).
  const std::string le("\xff\xfe" "A\0B\0-\0\x2d\x4e", 10);  // "AB-中"
  auto a = DecodeToUtf8(le, "auto", &st);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "AB-中");
  EXPECT_EQ(st.encoding, "utf-16le (bom)");
  auto b = DecodeToUtf8(le.substr(2), "auto", &st);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, "AB-中");
  EXPECT_EQ(st.encoding, "utf-16le");
  auto c = DecodeToUtf8("\xEF\xBB\xBF" + kZhongwen, "auto", &st);
  EXPECT_EQ(*c, kZhongwen);
  EXPECT_EQ(st.encoding, "utf-8 (bom)");
}

TEST(Decode, InvalidBytesAreReplacedAndCounted) {
  DecodeStats st;
  auto out = DecodeToUtf8("ok\xff\xfe" "fine", "utf-8", &st);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "ok\xEF\xBF\xBD\xEF\xBF\xBD" "fine");
  EXPECT_EQ(st.invalid_bytes, 2);
  EXPECT_EQ(st.first_invalid, 2);
  EXPECT_FALSE(CanonicalEncoding("latin-9").ok());
}

TEST(Decode, SequencesSplitAcrossFeedsSurvive) {
  // GB18030 text fed one byte at a time after a 4 KiB ASCII start (for detection).
  std::string bytes(5000, 'a');
  bytes += "\xd6\xd0\xce\xc4";
  auto d = Decoder::Create("gb18030");
  ASSERT_TRUE(d.ok());
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) ASSERT_TRUE(d->Feed(bytes.substr(i, 1), i + 1 == bytes.size(), &out).ok());
  EXPECT_EQ(out, std::string(5000, 'a') + "中文");
  EXPECT_EQ(d->stats().invalid_bytes, 0);
  EXPECT_EQ(d->stats().bytes_in, (int64_t)bytes.size());
}

TEST(Decode, Utf8OutsideUnicodeIsReplaced) {
  // glibc's iconv passed these through from UTF-8 (fuzz_decode, fuzz/corpus/decode/crash-five-byte-form):
  // a 5-byte form, a 6-byte form, U+110000 and U+1FFFFF in 4 bytes; also surrogates and overlong forms.
  struct Case {
    std::string in;
    int64_t invalid;
  };
  const Case cases[] = {{"\xF8\x88\x80\x80\x80", 5}, {"\xFC\x84\x80\x80\x80\x80", 6}, {"\xF4\x90\x80\x80", 4},
                        {"\xF7\xBF\xBF\xBF", 4},     {"\xED\xA0\x80", 3},                {"\xC0\x80", 2},
                        {"\xE0\x80\x80", 3}};
  for (const auto& c : cases) {
    DecodeStats st;
    auto out = DecodeToUtf8("\xEF\xBB\xBF" "a" + c.in + "b", "auto", &st);
    ASSERT_TRUE(out.ok());
    std::string want = "a";
    for (int64_t i = 0; i < c.invalid; ++i) want += "\xEF\xBF\xBD";
    EXPECT_EQ(*out, want + "b") << c.in.size() << " bytes";
    EXPECT_EQ(st.invalid_bytes, c.invalid);
    EXPECT_EQ(st.first_invalid, 4);  // after the BOM and 'a'
  }
  DecodeStats st;  // the largest code point and a 4-byte emoji stay
  EXPECT_EQ(*DecodeToUtf8("\xF4\x8F\xBF\xBF\xF0\x9F\x98\x80", "utf-8", &st), "\xF4\x8F\xBF\xBF\xF0\x9F\x98\x80");
  EXPECT_EQ(st.invalid_bytes, 0);
}

TEST(Decode, Utf8SplitAcrossFeedsSurvives) {
  const std::string bytes = std::string(5000, 'a') + "\xF0\x9F\x98\x80\xE4\xB8\xAD\xE4";  // the last one cut
  auto d = Decoder::Create("utf-8");
  ASSERT_TRUE(d.ok());
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) ASSERT_TRUE(d->Feed(bytes.substr(i, 1), i + 1 == bytes.size(), &out).ok());
  EXPECT_EQ(out, std::string(5000, 'a') + "\xF0\x9F\x98\x80\xE4\xB8\xAD\xEF\xBF\xBD");
  EXPECT_EQ(d->stats().invalid_bytes, 1);
  EXPECT_EQ(d->stats().first_invalid, 5007);
}

TEST(Normalize, KeepsChinesePunctuationAndFixesWidthControlsWhitespace) {
  auto n = Normalizer::Create(NormalizeOptions{});
  ASSERT_TRUE(n.ok());
  NormalizeStats st;
  // Full-width letters/digits to ASCII; ，。！ kept; zero-width and control dropped;
  // CR LF to LF; runs of spaces inside a line to one; indentation kept; e + combining acute to é.
  const std::string in = "  Ｈｅｌｌｏ１２３，你好。！\xE2\x80\x8B\x07  x\te\xCC\x81   \r\nnext\n\n\n\nend";
  EXPECT_EQ(n->Apply(in, &st), "  Hello123，你好。！ x \xC3\xA9\nnext\n\nend");
  EXPECT_EQ(st.documents_changed, 1);
  EXPECT_EQ(st.fullwidth, 8);
  EXPECT_GT(st.controls, 0);
  NormalizeOptions all;
  all.fullwidth_punct = true;
  all.ideographic_space = true;
  auto n2 = Normalizer::Create(all);
  EXPECT_EQ(n2->Apply("（注意）：好！\xE3\x80\x80。", nullptr), "(注意):好! 。");
}

// The normalizer skips utf8proc's NFC for text made only of "stable" code points;
// hold that set to utf8proc: each alone is unchanged and has combining class 0,
// and no two of those that take part in any composition compose with each other.
TEST(Normalize, NfcStableSetIsStableUnderUtf8proc) {
  auto nfc = [](const std::u32string& s) {
    const std::string in = EncodeUtf8(s);
    utf8proc_uint8_t* out = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(in.c_str()));
    std::string r(reinterpret_cast<char*>(out));
    std::free(out);
    return r;
  };
  std::vector<char32_t> composing;
  int stable = 0;
  for (char32_t c = 1; c < 0x10000; ++c) {
    if (!NfcStableCodePoint(c)) continue;
    ++stable;
    const auto* p = utf8proc_get_property((utf8proc_int32_t)c);
    ASSERT_EQ(p->combining_class, 0) << std::hex << (uint32_t)c;
    ASSERT_EQ(nfc(std::u32string(1, c)), EncodeUtf8(std::u32string(1, c))) << std::hex << (uint32_t)c;
    if (p->comb_index != UINT16_MAX) composing.push_back(c);
  }
  EXPECT_GT(stable, 20000);
  EXPECT_FALSE(NfcStableCodePoint(0x0301));  // combining acute
  EXPECT_FALSE(NfcStableCodePoint(0x2000));  // EN QUAD: NFC maps it to U+2002
  EXPECT_FALSE(NfcStableCodePoint(0x302A));  // ideographic tone mark (combining)
  EXPECT_FALSE(NfcStableCodePoint(0xF900));  // CJK compatibility ideograph
  for (char32_t a : composing)
    for (char32_t b : composing) {
      const std::u32string pair{a, b};
      ASSERT_EQ(nfc(pair), EncodeUtf8(pair)) << std::hex << (uint32_t)a << " " << (uint32_t)b;
    }
  // And the normalizer still composes where it must: e + combining acute inside Chinese text.
  auto n = Normalizer::Create(NormalizeOptions{});
  ASSERT_TRUE(n.ok());
  NormalizeStats st;
  EXPECT_EQ(n->Apply("中文 cafe\xCC\x81。", &st), "中文 caf\xC3\xA9。");
  EXPECT_EQ(st.nfc, 1);
}

TEST(Normalize, TraditionalToSimplified) {
  NormalizeOptions o;
  o.t2s = true;
  auto n = Normalizer::Create(o);
  ASSERT_TRUE(n.ok()) << n.status().message();
  NormalizeStats st;
  EXPECT_EQ(n->Apply("杭州分公司的寬頻業務", &st), "杭州分公司的宽频业务");
  EXPECT_EQ(st.t2s, 4);
}

TEST(Dedup, ExactAndNearDuplicatesKeepTheFirst) {
  const std::string para =
      "杭州分公司本月宽带新增用户三百二十户，流失用户四十户，净增二百八十户。"
      "其中光纤入户占九成以上，政企专线新签合同十二份，合同金额较上月增长百分之十五。"
      "下月重点是老旧小区改造和校园套餐推广，请各营业厅按计划落实。";
  std::string near = para;
  near.replace(near.find("十二份"), std::string("十二份").size(), "十三份");
  std::vector<std::string> docs = {
      para,
      "完全不同的一段文字，讲的是宁波分公司的话费账单和催缴流程，以及客户投诉的处理时限。",
      para,  // exact copy of 0
      near,  // one character changed: near copy of 0
      "短",  // shorter than a shingle
  };
  DedupOptions o;
  auto dr = Deduplicate(docs, o, 2);
  ASSERT_TRUE(dr.ok()) << dr.status().message();
  const DedupResult& r = *dr;
  EXPECT_EQ(r.keep, (std::vector<uint8_t>{1, 1, 0, 0, 1}));
  EXPECT_EQ(r.exact_removed, 1);
  EXPECT_EQ(r.near_removed, 1);
  ASSERT_EQ(r.clusters.size(), 1u);
  EXPECT_EQ(r.clusters[0].kept, 0);
  EXPECT_EQ(r.clusters[0].removed, (std::vector<int64_t>{2, 3}));
  // Deterministic, and the same with one thread.
  EXPECT_EQ(Deduplicate(docs, o, 1)->keep, r.keep);
  o.bands = 7;
  EXPECT_FALSE(ValidateDedupOptions(o).ok());
}

TEST(Deid, Validators) {
  EXPECT_TRUE(ValidResidentId("11010519491231002X"));
  EXPECT_FALSE(ValidResidentId("110105194912310021"));  // wrong check character
  EXPECT_FALSE(ValidResidentId("110105194913310026"));  // month 13
  EXPECT_EQ(ResidentIdCheck("11010519491231002"), 'X');
  EXPECT_TRUE(LuhnValid("4111111111111111"));
  EXPECT_FALSE(LuhnValid("4111111111111112"));
  EXPECT_EQ(LuhnCheckDigit("411111111111111"), '1');
}

TEST(Deid, PlaceholdersAndNoOverlaps) {
  auto d = Deidentifier::Create(DeidOptions{});
  ASSERT_TRUE(d.ok());
  DeidStats st;
  EXPECT_EQ(d->Apply("13800138000@139.com 与 13800138000", &st), "<EMAIL> 与 <PHONE>");
  EXPECT_EQ(st.found[static_cast<int>(PiiType::kEmail)], 1);
  EXPECT_EQ(d->Apply("客服10086，订单2026011234567", nullptr), "客服10086，订单2026011234567");
}

}  // namespace
}  // namespace st::data

namespace st::data {
namespace {

// The merge spills signatures to a file (17 bytes per document stay in memory);
// the result equals the in-memory one, including a bucket far past the 64
// comparisons each document gets (80 variants of one text, and exact copies).
TEST(Dedup, SpilledSignaturesResolveLikeHeldOnes) {
  testing::TempDir dir;
  DedupOptions o;
  o.num_perm = 112;
  o.bands = 14;
  std::vector<std::string> texts;
  const std::string base = "杭州分公司本月宽带新增用户三百二十户，流失用户四十户，净增二百八十户，其中光纤入户占九成以上。";
  for (int i = 0; i < 80; ++i) texts.push_back(base + base + base + "编号" + std::to_string(i));
  for (int i = 0; i < 5; ++i) texts.push_back(texts[3]);
  for (int i = 0; i < 300; ++i) texts.push_back("第" + std::to_string(i * 7919) + "份完全不同的说明，编号" + std::to_string(i));
  texts.push_back("短");
  auto held = SignatureStore::Create(o.num_perm);
  auto spilled = SignatureStore::Create(o.num_perm, dir / "sigs.tmp");
  ASSERT_TRUE(held.ok() && spilled.ok());
  for (const auto& t : texts) {
    const DocSignature sig = Sign(t, o);
    ASSERT_TRUE(held->Add(sig).ok());
    ASSERT_TRUE(spilled->Add(sig).ok());
  }
  ASSERT_TRUE(spilled->Finish().ok());
  auto a = ResolveDuplicates(*held, o);
  auto b = ResolveDuplicates(*spilled, o);
  ASSERT_TRUE(a.ok() && b.ok()) << b.status().message();
  EXPECT_EQ(a->keep, b->keep);
  EXPECT_EQ(a->exact_removed, 5);
  EXPECT_EQ(a->exact_removed, b->exact_removed);
  EXPECT_EQ(a->near_removed, b->near_removed);
  EXPECT_EQ(a->near_removed, 79);  // every variant joins the first
  ASSERT_EQ(b->clusters.size(), 1u);
  EXPECT_EQ(b->clusters[0].kept, 0);
  EXPECT_TRUE(std::filesystem::exists(dir / "sigs.tmp"));
  { SignatureStore gone = std::move(*spilled); }
  EXPECT_FALSE(std::filesystem::exists(dir / "sigs.tmp"));  // the spill file goes with its store
  // A signature of another length (tasks run with other settings) is an error, not a misread.
  DocSignature odd;
  odd.minhash.assign(64, 1);
  EXPECT_FALSE(held->Add(odd).ok());
}

TEST(MinHash, EveryVariantGivesTheScalarValues) {
  std::mt19937_64 rng(7);
  const auto variants = MinHashVariants();
  std::printf("MinHash variants on this CPU:");
  for (const auto& v : variants) std::printf(" %s", v.c_str());
  std::printf("\n");
  ASSERT_EQ(variants.front(), "scalar");
  for (int num_perm : {1, 4, 7, 8, 13, 112, 130}) {
    for (size_t n : {0, 1, 2, 5, 700}) {
      std::vector<uint64_t> x(n), a(num_perm), b(num_perm);
      for (auto& v : x) v = rng();
      for (int k = 0; k < num_perm; ++k) {
        a[k] = rng() | 1;
        b[k] = rng();
      }
      if (n > 2) x[1] = x[2] = 0, x[0] = UINT64_MAX;  // the extremes and a repeat
      std::vector<uint32_t> want(num_perm);
      for (int k = 0; k < num_perm; ++k) {  // the definition, written out
        uint32_t m = UINT32_MAX;
        for (uint64_t v : x) m = std::min(m, (uint32_t)((a[k] * v + b[k]) >> 32));
        want[k] = m;
      }
      for (const auto& variant : variants) {
        std::vector<uint32_t> got(num_perm, 12345);
        MinHashWith(variant, x.data(), n, a.data(), b.data(), num_perm, got.data());
        EXPECT_EQ(got, want) << variant << " num_perm " << num_perm << " n " << n;
      }
    }
  }
}

TEST(MinHash, SignaturesStayTheSame) {
  // Pinned values (the previous, scalar-only version built byte-identical shards on a
  // 20 MB bench corpus): a change to signing would change which documents dedup removes.
  DedupOptions o;
  o.num_perm = 16;
  o.bands = 4;
  const DocSignature s = Sign("杭州分公司本月宽带新增用户三百二十户，流失用户四十户。", o);
  ASSERT_EQ(s.minhash.size(), 16u);
  EXPECT_EQ(s.minhash, (std::vector<uint32_t>{30203199, 630649349, 22840264, 785504053, 5458600, 116812661, 102076368, 69657245,
                                              236956368, 54335141, 142584648, 75816310, 149011315, 69809743, 61761295, 496831569}));
}

}  // namespace
}  // namespace st::data
