// Execution accuracy's database side: result sets compared, the database read-only.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "data/eval/sql_exec.h"
#include "data/eval/task_set.h"

namespace st::data {
namespace {

class SqlExec : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("st_sql_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    Write("schema.sql", "CREATE TABLE t (city TEXT, n INTEGER, r REAL);");
    Write("data.sql", "INSERT INTO t VALUES ('杭州', 3, 1.5); INSERT INTO t VALUES ('宁波', 5, NULL);"
                      "INSERT INTO t VALUES ('温州', 4, 2.0);");
    auto db = SqlDatabase::Build({(dir_ / "schema.sql").string(), (dir_ / "data.sql").string()});
    ASSERT_TRUE(db.ok()) << db.status().message();
    db_ = std::make_unique<SqlDatabase>(std::move(db).value());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::filesystem::path dir_;
  std::unique_ptr<SqlDatabase> db_;
};

TEST_F(SqlExec, RowsAsText) {
  auto rows = db_->Query("SELECT city, n, r FROM t WHERE city = '宁波'");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0], (std::vector<std::string>{"宁波", "5", "NULL"}));
}

TEST_F(SqlExec, EquivalentQueriesMatchDifferentOnesDoNot) {
  EXPECT_TRUE(*db_->SameResult("SELECT n FROM t WHERE city = '杭州';", "select n from t where n < 4"));
  // Without ORDER BY in the reference, row order does not matter; with it, it does.
  EXPECT_TRUE(*db_->SameResult("SELECT city FROM t", "SELECT city FROM t ORDER BY n"));
  EXPECT_FALSE(*db_->SameResult("SELECT city FROM t ORDER BY n", "SELECT city FROM t ORDER BY n DESC"));
  EXPECT_FALSE(*db_->SameResult("SELECT SUM(n) FROM t", "SELECT MAX(n) FROM t"));
  EXPECT_FALSE(*db_->SameResult("SELECT n FROM t", "SELECT n, city FROM t"));
}

TEST_F(SqlExec, BrokenPredictionsScoreWrongBrokenReferencesAreErrors) {
  EXPECT_FALSE(*db_->SameResult("SELECT n FROM t", "SELEC n FROM t"));
  EXPECT_FALSE(*db_->SameResult("SELECT n FROM t", "SELECT nope FROM t"));
  EXPECT_FALSE(*db_->SameResult("SELECT n FROM t", ""));
  auto bad = db_->SameResult("SELECT nope FROM t", "SELECT n FROM t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("SELECT nope FROM t"), std::string::npos);
}

TEST_F(SqlExec, PredictionsCannotWriteOrChainStatements) {
  EXPECT_FALSE(db_->Query("DELETE FROM t").ok());
  EXPECT_FALSE(db_->Query("DROP TABLE t").ok());
  EXPECT_FALSE(db_->Query("SELECT 1; DELETE FROM t").ok());
  EXPECT_FALSE(db_->Query("ATTACH DATABASE '/tmp/x.db' AS x").ok());
  EXPECT_EQ(db_->Query("SELECT COUNT(*) FROM t")->at(0).at(0), "3");
}

TEST_F(SqlExec, ScoreTaskCountsExecutionAccuracy) {
  auto s = ScoreTask({"q1", "q2"}, {"SELECT n FROM t WHERE city = '杭州'", "SELECT COUNT(*) FROM t"}, {"q1", "q2"},
                     {"SELECT 3", "SELECT COUNT(city) FROM t WHERE n > 3"}, db_.get());
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->executed);
  EXPECT_EQ(s->same_result, 1);
  EXPECT_DOUBLE_EQ(s->execution_accuracy(), 0.5);
  EXPECT_EQ(s->Summary()["execution_accuracy"], 0.5);
  EXPECT_EQ(s->exact, 0);
}

TEST_F(SqlExec, ABrokenScriptNamesTheFile) {
  Write("bad.sql", "CREATE TABLE (;");
  auto db = SqlDatabase::Build({(dir_ / "bad.sql").string()});
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("bad.sql"), std::string::npos);
}

}  // namespace
}  // namespace st::data
