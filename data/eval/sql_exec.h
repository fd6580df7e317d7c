// Execution accuracy for text-to-SQL slices: the predicted and the reference
// query run against a real SQLite database built from the slice's own SQL
// scripts (schema, then data), and their result sets compared, as the Spider and
// BIRD evaluations do. Rows are compared as a multiset (order ignored) unless
// the reference query has an ORDER BY, then in order; values by their text
// (integers and reals as SQLite prints them). A prediction that fails to run
// (syntax error, unknown column) scores as wrong, never as an error.
//
// The database is opened in memory; after the scripts ran it is switched to
// query_only and an authorizer allows reading statements alone (no ATTACH, no
// PRAGMA), so a predicted statement cannot change it or touch anything else.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

struct sqlite3;

namespace st::data {

using SqlRows = std::vector<std::vector<std::string>>;

class SqlDatabase {
 public:
  // Runs each script file in turn into a fresh in-memory database.
  static StatusOr<SqlDatabase> Build(const std::vector<std::string>& script_files);
  // The rows of one query (NULL reads as "NULL"); an error names SQLite's message.
  StatusOr<SqlRows> Query(const std::string& sql) const;
  // Whether `prediction` returns the result set of `reference` (see above); an
  // error only when the reference itself fails.
  StatusOr<bool> SameResult(const std::string& reference, const std::string& prediction) const;

 private:
  std::shared_ptr<sqlite3> db_;
};

}  // namespace st::data
