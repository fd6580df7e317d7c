// Source readers: turn the files a recipe names into documents.
//   text + .txt        documents separated by blank lines
//   text + .jsonl      one JSON object per line, the document in `fields.text`
//   text + .csv/.tsv   a header row, then one document per row in column `fields.text`
//   instruction        .jsonl / .csv / .tsv with `fields.prompt` and `fields.response`
//                      (and `fields.system` when present)
//   chat               .jsonl, one conversation per line: `fields.messages` ([{role, content}])
//                      or sharegpt's `conversations` ([{from, value}])
// A path may be a file, a directory (its .txt/.jsonl/.json/.csv/.tsv files, sorted) or
// a glob (*, ?, [..]). Files are decoded from their encoding (data/clean/decode.h):
// bytes that are not valid become U+FFFD and are counted. A bad line (malformed JSON,
// a missing or mistyped field, an empty conversation) is recorded as an issue with its
// file and line and skipped; the read goes on. Only a missing file, an unreadable one or
// a header without the named column stops it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"
#include "data/clean/decode.h"
#include "data/tokenize/chat_template.h"

namespace st::data {

struct Document {
  std::string prompt;    // empty for plain text: the whole text is trained on
  std::string response;  // the text itself for format text
  std::string system;    // instruction: an optional system message
  std::vector<ChatMessage> messages;  // chat: the conversation
  std::string source;    // "file:line" for reports and errors
  int source_index = 0;  // which data.sources entry it came from
  int file_index = 0;    // which of the source's files (ExpandSourcePath order)
  int64_t order = 0;     // set by the caller: its place in the read, carried through cleaning
  int derived = 0;       // > 0: the n-th augmentation pair made from the document at `order`
};

struct SourceIssue {
  SourceIssue() = default;
  SourceIssue(std::string w, std::string t, int f = 0) : where(std::move(w)), what(std::move(t)), file_index(f) {}
  std::string where;  // file:line
  std::string what;
  int file_index = 0;
};

struct FileRead {
  int index = 0;  // in the source's file list
  std::string path;
  DecodeStats decode;
  int64_t documents = 0;
  std::string sha256;  // of the file's bytes, hashed while reading
};

struct SourceRead {
  std::vector<Document> docs;
  std::vector<SourceIssue> issues;
  std::vector<FileRead> files;
};

// The files a source path names (a file, a directory or a glob), sorted. A symbolic
// link in a directory or matched by a glob that points out of that directory is
// an error naming it unless `follow_symlinks` (the source's follow_symlinks key).
StatusOr<std::vector<std::string>> ExpandSourcePath(const std::string& path, bool follow_symlinks = false);

// `take(i)` picks which of the source's files to read (all when empty): a task of a
// multi-task build reads its own share.
StatusOr<SourceRead> ReadSource(const SourceSpec& src, const std::function<bool(size_t)>& take = {});

// The same, streamed: files are read in 1 MiB pieces and `sink` gets the documents
// in batches of about `batch` (memory stays bounded by the batch, not the input).
// A file's FileRead comes in `files` of the batch holding its last documents; a
// batch may hold several small files.
Status StreamSource(const SourceSpec& src, const std::function<bool(size_t)>& take, size_t batch,
                    const std::function<Status(SourceRead&)>& sink);
// The same over `files`, the source's expanded file list (ExpandSourcePath).
Status StreamFiles(const SourceSpec& src, const std::vector<std::string>& files, const std::function<bool(size_t)>& take,
                   size_t batch, const std::function<Status(SourceRead&)>& sink);

// Returns the byte offset of the first invalid UTF-8 sequence, or npos if valid.
size_t FindInvalidUtf8(const std::string& s);

}  // namespace st::data
