#include <strider/core/file_io.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>

#include <strider/core/error.hpp>

namespace strider {
namespace {

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// What to try next, for the errno values a user can do something about.
std::string hint(int err) {
  switch (err) {
    case EACCES:
    case EPERM: return " (is the output directory writable?)";
    case ENOENT: return " (does the directory exist? ensure_directory() creates it)";
    case ENOTDIR: return " (a component of the path is a file, not a directory)";
    case ENOSPC: return " (is the disk full?)";
    case EDQUOT: return " (disk quota exceeded)";
    case EROFS: return " (the file system is mounted read-only)";
    case EFBIG: return " (the file size limit, ulimit -f, is too small)";
    case EISDIR: return " (it is a directory)";
    default: return "";
  }
}

[[noreturn]] void throw_errno(const std::string& op, const std::string& path, int err) {
  STRIDER_THROW(IoError, "cannot " << op << " " << path << ": " << errno_text(err) << hint(err));
}

std::string parent_directory(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Closes on scope exit unless released.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// write() until done, retrying EINTR; returns 0 or the errno.
int write_all(int fd, std::string_view bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

std::atomic<unsigned> g_temp_counter{0};

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  STRIDER_CHECK(!path.empty() && path.back() != '/', IoError,
                "cannot write '" << path << "': the path names a directory, not a file");
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(g_temp_counter++);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  if (fd.get() < 0) throw_errno("create", tmp, errno);

  auto fail = [&](const std::string& op, const std::string& what, int err) {
    ::close(fd.release());
    ::unlink(tmp.c_str());
    throw_errno(op, what, err);
  };
  if (const int err = write_all(fd.get(), bytes)) fail("write", tmp, err);
  if (::fsync(fd.get()) != 0) fail("fsync", tmp, errno);
  if (::close(fd.release()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw_errno("close", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    STRIDER_THROW(IoError, "cannot rename " << tmp << " to " << path << ": " << errno_text(err) << hint(err));
  }
  // The rename is durable only once the directory is: fsync it. Some file systems refuse fsync
  // on directories (EINVAL); the data itself is already safe there.
  const std::string dir = parent_directory(path);
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0 && ::fsync(dfd.get()) != 0 && errno != EINVAL && errno != EROFS)
    throw_errno("fsync directory", dir, errno);
}

std::string read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    STRIDER_THROW(IoError, "cannot open " << path << ": " << errno_text(err)
                                          << (err == EACCES ? " (no read permission)" : hint(err)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno("stat", path, errno);
  STRIDER_CHECK(!S_ISDIR(st.st_mode), IoError, "cannot read " << path << ": it is a directory, not a file");
  std::string out;
  if (S_ISREG(st.st_mode)) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

void ensure_directory(const std::string& path) {
  STRIDER_CHECK(!path.empty(), IoError, "ensure_directory: the path is empty; pass a directory such as \"out\"");
  // Walk the prefixes "a", "a/b", "a/b/c": each must be a directory or be created as one.
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    const std::string prefix = path.substr(0, pos);
    if (prefix.empty() || prefix == "/" || prefix.back() == '/') continue;
    struct stat st {};
    if (::stat(prefix.c_str(), &st) == 0) {
      STRIDER_CHECK(S_ISDIR(st.st_mode), IoError,
                    "cannot create directory " << path << ": " << prefix
                                               << " exists and is not a directory (remove it or choose another path)");
      continue;
    }
    if (errno != ENOENT) throw_errno("create directory", prefix, errno);
    if (::mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) throw_errno("create directory", prefix, errno);
  }
}

void append_file(const std::string& path, std::string_view bytes, bool sync) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666));
  if (fd.get() < 0) throw_errno("open for appending", path, errno);
  if (const int err = write_all(fd.get(), bytes)) throw_errno("append to", path, err);
  if (sync && ::fdatasync(fd.get()) != 0) throw_errno("fdatasync", path, errno);
  if (::close(fd.release()) != 0) throw_errno("close", path, errno);
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool is_gzip(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f && static_cast<unsigned char>(data[1]) == 0x8b;
}

std::string gunzip(std::string_view data, const std::string& name) {
  STRIDER_CHECK(is_gzip(data), IoError, name << " is not gzip data (it does not start with the bytes 1f 8b)");
  std::string out;
  // The last 4 bytes of a gzip file hold the uncompressed size mod 2^32 (of its last member).
  if (data.size() >= 18) {
    const auto* t = reinterpret_cast<const unsigned char*>(data.data() + data.size() - 4);
    const std::size_t isize = t[0] | (std::size_t{t[1]} << 8) | (std::size_t{t[2]} << 16) | (std::size_t{t[3]} << 24);
    out.reserve(std::min(isize, data.size() * 64));  // a hint only: a damaged trailer cannot ask for much
  }
  std::size_t pos = 0;
  // A gzip file may hold several members back to back (as `cat a.gz b.gz` makes).
  while (pos < data.size()) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) STRIDER_THROW(IoError, "zlib could not start inflating " << name);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + pos));
    zs.avail_in = static_cast<uInt>(data.size() - pos);  // datasets stay below 4 GiB compressed
    int rc = Z_OK;
    char buf[1 << 16];
    while (rc != Z_STREAM_END) {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof buf;
      rc = inflate(&zs, Z_NO_FLUSH);
      out.append(buf, sizeof buf - zs.avail_out);
      if (rc == Z_STREAM_END) break;
      if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
        inflateEnd(&zs);
        STRIDER_THROW(IoError, name << ": truncated gzip stream: the compressed data ends after " << data.size()
                                    << " bytes (" << out.size()
                                    << " bytes decompressed) before the end of the stream; the file is incomplete "
                                       "(an interrupted download?)");
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        const std::string msg = zs.msg ? zs.msg : "error code " + std::to_string(rc);
        const std::size_t at = pos + static_cast<std::size_t>(zs.total_in);
        inflateEnd(&zs);
        STRIDER_THROW(IoError, name << ": corrupt gzip data near compressed byte " << at << ": " << msg
                                    << " (the file is damaged; download it again)");
      }
    }
    pos += static_cast<std::size_t>(zs.total_in);
    inflateEnd(&zs);
    // Trailing zero padding (some tools add it) ends the stream; anything else must be a member.
    std::size_t rest = pos;
    while (rest < data.size() && data[rest] == '\0') ++rest;
    if (rest == data.size()) break;
    STRIDER_CHECK(is_gzip(data.substr(pos)), IoError,
                  name << ": " << data.size() - pos << " bytes of non-gzip data follow the gzip stream at byte "
                       << pos << " (the file is damaged)");
  }
  return out;
}

std::string read_file_maybe_gzip(const std::string& path) {
  std::string raw = read_file(path);
  if (!is_gzip(raw)) return raw;
  return gunzip(raw, path);
}

}  // namespace strider
