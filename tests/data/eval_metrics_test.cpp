// Task metrics on hand-worked cases.
#include <gtest/gtest.h>

#include "data/eval/metrics.h"

namespace st::data {
namespace {

TEST(EvalMetrics, ExactMatchIgnoresSurroundingSpace) {
  EXPECT_TRUE(ExactMatch(" 杭州分公司\n", "杭州分公司"));
  EXPECT_FALSE(ExactMatch("杭州分公", "杭州分公司"));
}

TEST(EvalMetrics, CorrectionCountsSubstitutions) {
  // One typo (在 -> 再); the model fixes it and also breaks a correct character.
  CharCounts c = CorrectionCounts("我在说一遍", "我再说一遍", "我再讲一遍");
  EXPECT_EQ(c.tp, 1);
  EXPECT_EQ(c.fp, 1);
  EXPECT_EQ(c.fn, 0);
  EXPECT_DOUBLE_EQ(c.precision(), 0.5);
  EXPECT_DOUBLE_EQ(c.recall(), 1.0);
}

TEST(EvalMetrics, CorrectionCountsReduplicationDeletions) {
  // A duplicated word (视频会议视频会议) is one deletion edit; leaving it is a miss.
  const std::string src = "召开视频会议视频会议", ref = "召开视频会议";
  CharCounts fixed = CorrectionCounts(src, ref, ref);
  EXPECT_EQ(fixed.tp, 1);
  EXPECT_EQ(fixed.fp + fixed.fn, 0);
  CharCounts missed = CorrectionCounts(src, ref, src);
  EXPECT_EQ(missed.tp + missed.fp, 0);
  EXPECT_EQ(missed.fn, 1);
  EXPECT_DOUBLE_EQ(missed.recall(), 0.0);
  EXPECT_DOUBLE_EQ(missed.precision(), 1.0);  // no edits made, none wrong
}

TEST(EvalMetrics, EditsAreSpansOfTheSource) {
  auto e = CharEdits(U"abcd", U"axcdd");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0], Edit(1, 2, U"x"));
  EXPECT_EQ(e[1], Edit(4, 4, U"d"));
}

TEST(EvalMetrics, OverlapCountsCharacters) {
  CharCounts c = OverlapCounts("杭州分公司", "杭州公司司");
  EXPECT_EQ(c.tp, 4);
  EXPECT_EQ(c.fp, 1);
  EXPECT_EQ(c.fn, 1);
  EXPECT_NEAR(c.f1(), 0.8, 1e-12);
}

}  // namespace
}  // namespace st::data
