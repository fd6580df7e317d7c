#include "data/eval/sql_exec.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>

#include "core/file_io.h"

namespace st::data {

StatusOr<SqlDatabase> SqlDatabase::Build(const std::vector<std::string>& script_files) {
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    sqlite3_close(raw);
    return RuntimeError("sqlite: cannot open an in-memory database");
  }
  SqlDatabase d;
  d.db_.reset(raw, sqlite3_close);
  for (const auto& f : script_files) {
    ST_ASSIGN_OR_RETURN(std::string text, ReadFile(f));
    char* err = nullptr;
    if (sqlite3_exec(raw, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return InvalidInput(f + ": the SQL script failed in SQLite (" + msg + "); fix the script");
    }
  }
  char* err = nullptr;
  if (sqlite3_exec(raw, "PRAGMA query_only = 1;", nullptr, nullptr, &err) != SQLITE_OK) {
    sqlite3_free(err);
    return RuntimeError("sqlite: cannot make the database read-only");
  }
  // Replies are text from a model: only reading statements are authorized, no
  // other database may be attached, and no pragma or extension runs.
  sqlite3_limit(raw, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_set_authorizer(
      raw,
      [](void*, int action, const char*, const char*, const char*, const char*) {
        return action == SQLITE_SELECT || action == SQLITE_READ || action == SQLITE_FUNCTION || action == SQLITE_RECURSIVE
                   ? SQLITE_OK
                   : SQLITE_DENY;
      },
      nullptr);
  return d;
}

StatusOr<SqlRows> SqlDatabase::Query(const std::string& sql) const {
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql.c_str(), (int)sql.size(), &stmt, &tail) != SQLITE_OK || !stmt) {
    std::string msg = sqlite3_errmsg(db_.get());
    sqlite3_finalize(stmt);
    return InvalidInput("sql: " + msg);
  }
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(stmt, sqlite3_finalize);
  // One statement only: anything after it but whitespace and ';' is refused.
  for (const char* p = tail; p && *p; ++p)
    if (!std::isspace((unsigned char)*p) && *p != ';') return InvalidInput("sql: more than one statement");
  SqlRows rows;
  const int cols = sqlite3_column_count(stmt);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int c = 0; c < cols; ++c) {
      const unsigned char* t = sqlite3_column_text(stmt, c);
      row.push_back(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    rows.push_back(std::move(row));
    if (rows.size() > 100000) return InvalidInput("sql: more than 100000 rows");
  }
  if (rc != SQLITE_DONE) return InvalidInput(std::string("sql: ") + sqlite3_errmsg(db_.get()));
  return rows;
}

StatusOr<bool> SqlDatabase::SameResult(const std::string& reference, const std::string& prediction) const {
  auto want = Query(reference);
  if (!want.ok()) return InvalidInput("reference query '" + reference + "' fails: " + want.status().message());
  auto got = Query(prediction);
  if (!got.ok()) return false;
  std::string upper = reference;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return (char)std::toupper(c); });
  if (upper.find("ORDER BY") == std::string::npos) {
    std::sort(want->begin(), want->end());
    std::sort(got->begin(), got->end());
  }
  return *want == *got;
}

}  // namespace st::data
