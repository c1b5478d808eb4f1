// Whole-file I/O with errors that name the file, the operation and the reason, and writes that
// never leave a half-written file behind (POSIX).
//
//   write_file_atomic("out/ckpt.safetensors", bytes);  // old file or new file, never a mix
//   std::string b = read_file("out/ckpt.safetensors");
//   ensure_directory("out/samples");                    // mkdir -p
//   std::string raw = read_file_maybe_gzip("train-images-idx3-ubyte.gz");
//
// write_file_atomic: creates `<path>.tmp-<pid>-<n>` in the target's directory (O_EXCL), writes
// every byte, fsyncs it, renames it over `path` (atomic on POSIX file systems), then fsyncs the
// directory so the rename itself survives a crash. On any failure the temporary file is
// removed, the old target is untouched, and IoError says what failed:
//   "cannot create /x/ckpt.safetensors.tmp-1234-0: Permission denied (is the output directory
//    writable?)"
// Every function throws strider::IoError (never exits); bytes travel in std::string.
#pragma once

#include <string>
#include <string_view>

namespace strider {

// Replaces `path` with `bytes` atomically and durably (see above).
void write_file_atomic(const std::string& path, std::string_view bytes);

// The whole contents of a regular file. IoError for a missing file, a directory, no permission
// or a read error.
std::string read_file(const std::string& path);

// mkdir -p: creates `path` and its missing parents (mode 0777 minus the umask). IoError when a
// component exists but is not a directory, or a directory cannot be created.
void ensure_directory(const std::string& path);

// Appends `bytes` to `path` (created when missing) with a single write() on an O_APPEND
// descriptor, then fdatasync when `sync`. For logs whose rows must survive a crash.
void append_file(const std::string& path, std::string_view bytes, bool sync = true);

// True when a file or directory exists at `path` (following links).
bool path_exists(const std::string& path);

// gzip: `data` starts with the magic bytes 1f 8b.
bool is_gzip(std::string_view data);
// Decompresses a gzip stream (every member, checking each CRC). `name` (a path) is used in the
// errors: corrupt data, a truncated stream, trailing garbage.
std::string gunzip(std::string_view data, const std::string& name);
// read_file, then gunzip when the contents are gzip (decided by the magic bytes, not the name).
std::string read_file_maybe_gzip(const std::string& path);

}  // namespace strider
